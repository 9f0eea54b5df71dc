//! The refresh loop: providers put root locations in the queue, the loop
//! claims due items, processes them and writes the results, then deletes
//! orphans. Each write is one transaction, so a crash at any point leaves a
//! queue that the next pass converges from.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use greenroom_config::OrphanStrategy;
use greenroom_model::location::synthetic_location_entity;
use greenroom_store::{ProviderEntity, Store, StoreError};
use rand::Rng;
use tokio::sync::{Notify, watch};

use crate::processor::Processor;

pub const CONFIG_PROVIDER: &str = "ConfigLocationProvider";
pub const REGISTERED_PROVIDER: &str = "DefaultLocationStore";

#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// `None`: periodic processing is off (items are processed once when queued).
    pub interval: Option<Duration>,
    pub orphan_strategy: OrphanStrategy,
    /// (type, target, presence) of `catalog.locations`.
    pub config_locations: Vec<(String, String, Option<String>)>,
    pub batch_size: usize,
}

pub struct Engine {
    store: Store,
    processor: Processor,
    options: EngineOptions,
    first_pass_started: AtomicBool,
    wake: Notify,
}

/// A provider entity for one location (the synthetic Location entity).
pub fn location_provider_entity(
    kind: &str,
    target: &str,
    presence: Option<&str>,
) -> ProviderEntity {
    let entity = synthetic_location_entity(kind, target, presence);
    let entity_ref = greenroom_model::location::location_entity_ref(kind, target);
    ProviderEntity {
        entity,
        entity_ref,
        location_key: format!("{kind}:{target}"),
    }
}

impl Engine {
    pub fn new(store: Store, processor: Processor, options: EngineOptions) -> Arc<Self> {
        Arc::new(Self {
            store,
            processor,
            options,
            first_pass_started: AtomicBool::new(false),
            wake: Notify::new(),
        })
    }

    pub fn processor(&self) -> &Processor {
        &self.processor
    }

    /// True once the first processing pass over configured locations began.
    pub fn first_pass_started(&self) -> bool {
        self.first_pass_started.load(Ordering::Acquire)
    }

    /// Asks the loop to look at the queue now (after a registration or refresh).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Puts the configured locations into the queue (full replacement).
    pub async fn apply_config_locations(&self) -> Result<(), StoreError> {
        let entities: Vec<ProviderEntity> = self
            .options
            .config_locations
            .iter()
            .map(|(kind, target, presence)| {
                location_provider_entity(kind, target, presence.as_deref())
            })
            .collect();
        self.store
            .replace_provider_entities(CONFIG_PROVIDER, &entities)
            .await
    }

    /// Mirrors the registered locations table into the queue.
    pub async fn sync_registered_locations(&self) -> Result<(), StoreError> {
        let entities: Vec<ProviderEntity> = self
            .store
            .list_locations()
            .await?
            .iter()
            .map(|l| location_provider_entity(&l.kind, &l.target, None))
            .collect();
        self.store
            .replace_provider_entities(REGISTERED_PROVIDER, &entities)
            .await?;
        self.wake();
        Ok(())
    }

    fn next_due(&self, now: i64) -> i64 {
        match self.options.interval {
            Some(interval) => {
                let ms = interval.as_millis() as i64;
                now + rand::rng().random_range(ms..=ms + ms / 2)
            }
            // Processing disabled: processed once, then only on request.
            None => i64::MAX / 2,
        }
    }

    /// Processes one batch of due items. Returns how many were claimed.
    pub async fn process_batch(&self) -> Result<usize, StoreError> {
        let lease = self
            .options
            .interval
            .map_or(60_000, |i| i.as_millis() as i64)
            .max(10_000);
        let items = self.store.claim_due(self.options.batch_size, lease).await?;
        self.first_pass_started.store(true, Ordering::Release);
        if items.is_empty() {
            return Ok(0);
        }
        let started = Instant::now();
        let now = greenroom_store::now_ms();
        if let Some(oldest) = items.iter().map(|i| i.due_at).min() {
            metrics::gauge!("catalog_processing_lag_seconds")
                .set(((now - oldest).max(0) as f64) / 1000.0);
        }
        // Reads (url, files) overlap; validation is cheap CPU work.
        let processor = &self.processor;
        let results: Vec<_> = futures_util::stream::iter(items.iter().cloned())
            .map(|item| async move { processor.process(&item).await })
            .buffer_unordered(8)
            .collect()
            .await;
        let processed_in = started.elapsed();
        let errors: usize = results.iter().map(|r| r.errors.len()).sum();
        metrics::counter!("catalog_processing_errors_total").increment(errors as u64);
        metrics::counter!("catalog_processed_entities_total").increment(results.len() as u64);
        let applying = Instant::now();
        self.store.apply_results(&results).await?;
        let applied_in = applying.elapsed();
        let schedule: Vec<(String, i64)> = items
            .iter()
            .map(|i| (i.entity_id.clone(), self.next_due(now)))
            .collect();
        self.store.schedule(&schedule).await?;
        metrics::histogram!("catalog_processing_batch_seconds")
            .record(started.elapsed().as_secs_f64());
        tracing::debug!(
            items = items.len(),
            process_ms = processed_in.as_millis() as u64,
            apply_ms = applied_in.as_millis() as u64,
            total_ms = started.elapsed().as_millis() as u64,
            "processing batch"
        );
        Ok(items.len())
    }

    pub async fn cleanup_orphans(&self) -> Result<usize, StoreError> {
        match self.options.orphan_strategy {
            OrphanStrategy::Delete => self.store.delete_orphans().await,
            OrphanStrategy::Keep => Ok(0),
        }
    }

    async fn drain_stitch_queue(&self) {
        let started = Instant::now();
        match self.store.stitch_pending().await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(
                stitched = n,
                ms = started.elapsed().as_millis() as u64,
                "drained the stitch queue"
            ),
            Err(e) => tracing::error!(error = %e, "stitching failed"),
        }
    }

    /// The loop `serve` runs until shutdown is signalled.
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let mut last_cleanup = Instant::now();
        let mut last_drain = Instant::now();
        let mut dirty = false;
        loop {
            if *shutdown.borrow() {
                return;
            }
            // While a large ingestion runs, stitching waits up to 10 s: hub
            // entities (a group owning thousands) are then rebuilt a handful
            // of times instead of after every batch.
            if last_drain.elapsed() > Duration::from_secs(10) {
                self.drain_stitch_queue().await;
                last_drain = Instant::now();
            }
            match self.process_batch().await {
                Ok(0) => {
                    self.drain_stitch_queue().await;
                    last_drain = Instant::now();
                    if dirty || last_cleanup.elapsed() > Duration::from_secs(30) {
                        if let Err(e) = self.cleanup_orphans().await {
                            tracing::error!(error = %e, "orphan cleanup failed");
                        }
                        last_cleanup = Instant::now();
                        dirty = false;
                    }
                    tokio::select! {
                        _ = self.wake.notified() => {}
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                        _ = shutdown.changed() => {}
                    }
                }
                Ok(_) => dirty = true,
                Err(e) => {
                    tracing::error!(error = %e, "processing pass failed; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }
}
