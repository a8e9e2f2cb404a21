//! The wasmtime engine every run shares, configured as wasmtime's own
//! production guidance suggests: the pooling allocator with copy-on-write
//! memory images, epoch interruption driven by one ticker thread, and a
//! linker that holds exactly the host imports a plugin may use.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use wasmtime::component::Linker;
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use crate::cache::CompileCache;
use crate::config::SandboxConfig;
use crate::state::RunState;

/// How often the epoch advances. Each tick is also where a busy plugin
/// yields to other runs on the same thread, so it bounds both timeout
/// precision and scheduling latency.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// The shared engine, linker and configuration. Cheap to clone; every run
/// gets its own store.
#[derive(Clone)]
pub struct Sandbox {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub engine: Engine,
    pub linker: Linker<RunState>,
    pub config: SandboxConfig,
    pub pooling: bool,
    pub cache: Option<CompileCache>,
    ticker_stop: Arc<AtomicBool>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.ticker_stop.store(true, Ordering::Relaxed);
    }
}

impl Sandbox {
    pub fn new(config: SandboxConfig) -> wasmtime::Result<Sandbox> {
        let (engine, pooling) = match config.pooling {
            true => match Engine::new(&engine_config(&config, true)) {
                Ok(engine) => (engine, true),
                Err(e) => {
                    tracing::warn!(error = %e, "pooling allocator unavailable; using on-demand allocation");
                    (Engine::new(&engine_config(&config, false))?, false)
                }
            },
            false => (Engine::new(&engine_config(&config, false))?, false),
        };
        let mut linker = Linker::<RunState>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        // Each capability's interfaces (crate::capability).
        crate::capability::link_all(&mut linker)?;

        // An unusable cache folder costs speed, never correctness: warn
        // and compile every time.
        let cache = config
            .compile_cache
            .as_ref()
            .and_then(|c| match CompileCache::open(c) {
                Ok(cache) => Some(cache),
                Err(e) => {
                    tracing::warn!("{e}; compiling without a cache");
                    None
                }
            });

        let ticker_stop = Arc::new(AtomicBool::new(false));
        spawn_epoch_ticker(&engine, ticker_stop.clone())?;
        Ok(Sandbox {
            inner: Arc::new(Inner {
                engine,
                linker,
                config,
                pooling,
                cache,
                ticker_stop,
            }),
        })
    }

    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    pub fn config(&self) -> &SandboxConfig {
        &self.inner.config
    }

    /// The compile cache in use, if any.
    pub fn compile_cache(&self) -> Option<&CompileCache> {
        self.inner.cache.as_ref()
    }

    /// Whether the pooling allocator is in use (false after a fallback).
    pub fn is_pooling(&self) -> bool {
        self.inner.pooling
    }
}

fn engine_config(config: &SandboxConfig, pooling: bool) -> Config {
    let mut c = Config::new();
    c.epoch_interruption(true);
    c.wasm_component_model(true);
    // Deep enough for CPython's interpreter loop; a runaway recursion still
    // ends in a clean stack-overflow trap.
    c.max_wasm_stack(1 << 20);
    c.async_stack_size(4 << 20);
    c.memory_init_cow(true);
    if pooling {
        let n = config.max_concurrent_runs.max(1);
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(n)
            .total_memories(n.saturating_mul(2))
            .total_tables(n.saturating_mul(4))
            .total_stacks(n)
            .total_core_instances(n.saturating_mul(20))
            .max_core_instances_per_component(200)
            .max_memories_per_component(32)
            .max_tables_per_component(64)
            .max_component_instance_size(10 << 20)
            .max_core_instance_size(10 << 20)
            .table_elements(100_000)
            .max_memory_size(
                usize::try_from(config.ceilings.memory_mib << 20).unwrap_or(usize::MAX),
            )
            // Keep a little of each freed memory resident so the next run
            // reuses warm pages instead of faulting them in again, but only
            // a little: every pool slot ever used keeps this much, and 1 MiB
            // per slot measured 1 GB of RSS after 1,000 concurrent runs.
            .linear_memory_keep_resident(64 << 10);
        c.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    }
    c
}

/// Advances the engine's epoch every [`EPOCH_TICK`] until the sandbox is
/// dropped. Holds only a weak reference so it never keeps the engine alive.
/// Without it no timeout could fire, so failing to start it fails the sandbox.
fn spawn_epoch_ticker(engine: &Engine, stop: Arc<AtomicBool>) -> std::io::Result<()> {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("exorun-epoch".into())
        .spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(EPOCH_TICK);
                match weak.upgrade() {
                    Some(engine) => engine.increment_epoch(),
                    None => break,
                }
            }
        })
        .map(drop)
}
