//! `greenroom catalog validate`: compiler-style errors and exit codes.

mod common;

use common::{cli, data_dir};
use serde_json::Value;

fn validate(args: &[&str]) -> (i32, String, String) {
    let mut all = vec!["catalog", "validate"];
    all.extend_from_slice(args);
    cli(&all)
}

#[test]
fn the_bundled_example_catalog_is_valid() {
    // greenroom's own catalog-info.yaml is bundled too (under greenroom/).
    let own = data_dir().join("../../catalog-info.yaml");
    let (code, _, stderr) = validate(&[own.to_str().unwrap()]);
    assert_eq!(
        (code, stderr.trim()),
        (0, "ok: 1 file(s), 1 entity, 0 error(s)")
    );
    let dir = data_dir().join("../../examples/catalog");
    let (code, stdout, stderr) = validate(&[dir.to_str().unwrap()]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert_eq!(
        stderr.trim(),
        "ok: 10 file(s), 24 entities, 0 error(s), 3 YAML file(s) without apiVersion or kind skipped, 8 template file(s) (skeletons with ${{ }}, Helm chart templates) skipped"
    );
}

#[test]
fn every_bad_descriptor_is_reported_with_file_document_field_and_rule() {
    let cases: Vec<Value> = serde_saphyr::from_str(
        &std::fs::read_to_string(data_dir().join("invalid-expected.yaml")).unwrap(),
    )
    .unwrap();
    let dir = data_dir().join("invalid");
    let (code, stdout, stderr) = validate(&[dir.to_str().unwrap()]);
    assert_eq!(code, 1, "{stdout}");
    assert!(stderr.starts_with("validation failed:"), "{stderr}");
    for case in &cases {
        let file = case["file"].as_str().unwrap();
        let Some(expected) = case["cli"].as_str() else {
            continue;
        };
        let line = stdout
            .lines()
            .find(|l| l.contains(file) && l.contains(expected));
        assert!(
            line.is_some(),
            "{file}: no line with '{expected}' in:\n{stdout}"
        );
        assert!(
            line.unwrap().contains(&format!("{file}:")),
            "file name first"
        );
    }
    // Line for the bad name: file, document, ref, rule, field, message.
    assert!(stdout.contains("bad-name.yaml:doc 0: component:default/bad name!: error[FieldFormatEntityPolicy] at metadata.name: \"metadata.name\" is not valid;"), "{stdout}");
}

#[test]
fn globs_and_missing_paths() {
    let pattern = format!("{}/invalid/bad-*.yaml", data_dir().display());
    let (code, stdout, _) = validate(&[&pattern]);
    assert_eq!(code, 1);
    assert_eq!(
        stdout.lines().count(),
        3,
        "bad-name, bad-relation, bad-tag (one line each): {stdout}"
    );
    let (code, _, stderr) = validate(&["/nonexistent/catalog-info.yaml"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("no such file or directory"));
    let good = data_dir().join("fixture-catalog/software.yaml");
    let (code, _, _) = validate(&[good.to_str().unwrap()]);
    assert_eq!(code, 0);
}
