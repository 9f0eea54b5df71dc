//! `greenroom`: the developer portal binary.

mod delivery;
mod scaffold;
mod serve;
mod techdocs;
mod validate;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

// mimalloc returns freed memory to the OS far better than glibc's per-thread
// arenas after a large ingestion, which keeps the steady-state RSS small.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "greenroom",
    version,
    about = "An internal developer portal compatible with Backstage"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the portal: REST API and background processing.
    Serve {
        /// app-config files, merged in order (later wins).
        #[arg(long = "config", short = 'c')]
        config: Vec<PathBuf>,
    },
    /// Run a software template locally into a directory (publish and
    /// catalog steps are skipped with a notice).
    Scaffold {
        /// The template descriptor (kind: Template).
        template: PathBuf,
        /// A YAML or JSON file with the form values.
        #[arg(long)]
        values: Option<PathBuf>,
        /// A secret for the template (KEY=VALUE; repeatable). Secrets are
        /// checked against spec.secrets.schema and never printed.
        #[arg(long = "secret")]
        secrets: Vec<String>,
        /// Where the files go.
        #[arg(long, short = 'o')]
        output: PathBuf,
        /// app-config files (integrations, scaffolder.defaultEnvironment).
        #[arg(long = "config", short = 'c')]
        config: Vec<PathBuf>,
    },
    /// Set an environment's image tag in its Helm values (for the GitOps
    /// promotion change), keeping the rest of the file as it is.
    Promote {
        /// Take the tag this environment runs.
        #[arg(long)]
        from: Option<String>,
        /// The environment to change.
        #[arg(long)]
        to: String,
        /// The tag to set (instead of --from).
        #[arg(long)]
        tag: Option<String>,
        #[arg(long, default_value = "gitops")]
        gitops_dir: PathBuf,
    },
    /// Check the deployed chain: Argo CD Synced/Healthy, pods Ready with the
    /// expected tag, Kong answering / and /api.
    Verify(Box<delivery::VerifyArgs>),
    /// TechDocs: build, publish and preview docs sites.
    Techdocs {
        #[command(subcommand)]
        command: TechdocsCommand,
    },
    /// Catalog tools.
    Catalog {
        #[command(subcommand)]
        command: CatalogCommand,
    },
}

#[derive(Subcommand)]
enum TechdocsCommand {
    /// Build a docs site from an mkdocs tree (`techdocs-cli generate`).
    #[command(alias = "generate")]
    Build {
        #[arg(long, default_value = ".")]
        source_dir: PathBuf,
        #[arg(long, default_value = "./site")]
        output_dir: PathBuf,
        /// site_name when the source has no mkdocs.yml.
        #[arg(long)]
        site_name: Option<String>,
        /// Stored in techdocs_metadata.json (defaults to a hash of the source).
        #[arg(long)]
        etag: Option<String>,
        /// The entity's techdocs-ref (dir:… or url:…), kept in the metadata.
        #[arg(long)]
        techdocs_ref: Option<String>,
    },
    /// Preview a docs tree in the browser, rebuilding when it changes.
    Serve {
        #[arg(long, default_value = ".")]
        source_dir: PathBuf,
        #[arg(long, default_value_t = 3000)]
        port: u16,
    },
    /// Publish a built site for an entity to the configured publisher.
    Publish {
        /// namespace/kind/name
        #[arg(long)]
        entity: String,
        #[arg(long, default_value = "./site")]
        directory: PathBuf,
        #[arg(long = "config", short = 'c')]
        config: Vec<PathBuf>,
    },
}

#[derive(Subcommand)]
enum CatalogCommand {
    /// Validate catalog descriptors offline (files, directories, globs).
    Validate {
        #[arg(required = true)]
        paths: Vec<String>,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve { config } => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            runtime.block_on(serve::run(config))
        }
        Command::Scaffold {
            template,
            values,
            secrets,
            output,
            config,
        } => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            let code = runtime.block_on(scaffold::run(
                &template,
                values.as_deref(),
                &secrets,
                &output,
                &config,
            ))?;
            std::process::exit(code);
        }
        Command::Promote {
            from,
            to,
            tag,
            gitops_dir,
        } => {
            let code = delivery::run_promote(from.as_deref(), &to, tag.as_deref(), &gitops_dir)?;
            std::process::exit(code);
        }
        Command::Verify(args) => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let code = runtime.block_on(delivery::run_verify(*args))?;
            std::process::exit(code);
        }
        Command::Techdocs { command } => {
            let code = match command {
                TechdocsCommand::Build {
                    source_dir,
                    output_dir,
                    site_name,
                    etag,
                    techdocs_ref,
                } => techdocs::run_build(&techdocs::BuildArgs {
                    source_dir,
                    output_dir,
                    site_name,
                    etag,
                    techdocs_ref,
                })?,
                TechdocsCommand::Serve { source_dir, port } => {
                    let runtime = tokio::runtime::Builder::new_multi_thread()
                        .enable_all()
                        .build()?;
                    runtime.block_on(techdocs::run_serve(&source_dir, port))?
                }
                TechdocsCommand::Publish {
                    entity,
                    directory,
                    config,
                } => techdocs::run_publish(&entity, &directory, &config)?,
            };
            std::process::exit(code);
        }
        Command::Catalog {
            command: CatalogCommand::Validate { paths },
        } => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let code = runtime.block_on(validate::run(&paths))?;
            std::process::exit(code);
        }
    }
}
