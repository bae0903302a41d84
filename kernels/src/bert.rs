//! BERT's forward pass for the embedding model with 8-bit dense layers
//! (`qlinear`) and everything else in f32: the embeddings, attention,
//! GELU, layer norms and the mean pooling, written out over plain slices.
//!
//! Same model, same maths as candle's `BertModel` (Cortex's f32 engine):
//! post-norm layers, exact GELU (erf), no attention mask (a batch holds
//! texts of one length, no padding). On a CPU without AVX-512 VNNI the
//! integer products run portably and slowly, so Cortex runs f32 there.
//!
//! Everything here is `#[inline(always)]` into one `forward` per CPU
//! level, so that the f32 loops are compiled for AVX-512 where it exists
//! (vectorised by the compiler: loops are written lane-wise, reductions
//! into 16 accumulators, exp and erf without branches).

use crate::qlinear::{QLinear, QuantRows, vnni_available};

/// What of the model's `config.json` the forward pass needs.
#[derive(Debug, serde::Deserialize)]
pub struct BertConfig {
    pub hidden_size: usize,
    pub num_attention_heads: usize,
    pub num_hidden_layers: usize,
    pub intermediate_size: usize,
    pub layer_norm_eps: f64,
    pub max_position_embeddings: usize,
    pub vocab_size: usize,
    pub hidden_act: String,
}

struct LayerNorm {
    weight: Vec<f32>,
    bias: Vec<f32>,
}

struct Layer {
    /// Query, key and value in one product (outputs q | k | v).
    qkv: QLinear,
    attention_out: QLinear,
    attention_norm: LayerNorm,
    up: QLinear,
    down: QLinear,
    out_norm: LayerNorm,
}

/// The model, ready to run.
pub struct Int8Bert {
    word: Vec<f32>,
    position: Vec<f32>,
    token_type: Vec<f32>,
    embedding_norm: LayerNorm,
    layers: Vec<Layer>,
    hidden: usize,
    heads: usize,
    eps: f32,
    positions: usize,
    vocab: usize,
}

/// Working memory of one forward pass, kept by each worker between
/// batches.
#[derive(Default)]
pub struct Scratch {
    x: Vec<f32>,
    qkv: Vec<f32>,
    context: Vec<f32>,
    tmp: Vec<f32>,
    up: Vec<f32>,
    quant: QuantRows,
    scores: Vec<f32>,
    keys_t: Vec<f32>,
}

impl Int8Bert {
    /// Builds the model from its weights: `tensor(name)` gives a tensor of
    /// sentence-transformers' file by name (row-major f32), or `None`.
    pub fn load(
        tensor: impl Fn(&str) -> Option<Vec<f32>>,
        config: &BertConfig,
    ) -> Result<Int8Bert, String> {
        if config.hidden_act != "gelu" {
            return Err(format!("hidden_act {:?}: only gelu is supported", config.hidden_act));
        }
        let h = config.hidden_size;
        if config.num_attention_heads == 0 || !h.is_multiple_of(config.num_attention_heads) {
            return Err("hidden_size is not a multiple of num_attention_heads".into());
        }
        let get = |name: &str, len: usize| -> Result<Vec<f32>, String> {
            let v = tensor(name)
                .or_else(|| tensor(&format!("bert.{name}")))
                .ok_or_else(|| format!("no tensor {name}"))?;
            if v.len() != len {
                return Err(format!("{name}: {} values, expected {len}", v.len()));
            }
            Ok(v)
        };
        let norm = |prefix: &str| -> Result<LayerNorm, String> {
            Ok(LayerNorm {
                weight: get(&format!("{prefix}.weight"), h)?,
                bias: get(&format!("{prefix}.bias"), h)?,
            })
        };
        let linear = |names: &[&str], n: usize, k: usize| -> Result<QLinear, String> {
            let (mut w, mut b) = (Vec::new(), Vec::new());
            for name in names {
                w.extend(get(&format!("{name}.weight"), n * k)?);
                b.extend(get(&format!("{name}.bias"), n)?);
            }
            Ok(QLinear::new(&w, &b, n * names.len(), k))
        };
        let inter = config.intermediate_size;
        let mut layers = Vec::new();
        for i in 0..config.num_hidden_layers {
            let p = format!("encoder.layer.{i}");
            let qkv = ["query", "key", "value"].map(|x| format!("{p}.attention.self.{x}"));
            layers.push(Layer {
                qkv: linear(&qkv.each_ref().map(String::as_str), h, h)?,
                attention_out: linear(&[&format!("{p}.attention.output.dense")], h, h)?,
                attention_norm: norm(&format!("{p}.attention.output.LayerNorm"))?,
                up: linear(&[&format!("{p}.intermediate.dense")], inter, h)?,
                down: linear(&[&format!("{p}.output.dense")], h, inter)?,
                out_norm: norm(&format!("{p}.output.LayerNorm"))?,
            });
        }
        let vocab = config.vocab_size;
        Ok(Int8Bert {
            word: get("embeddings.word_embeddings.weight", vocab * h)?,
            position: get(
                "embeddings.position_embeddings.weight",
                config.max_position_embeddings * h,
            )?,
            token_type: get("embeddings.token_type_embeddings.weight", 2 * h)?[..h].to_vec(),
            embedding_norm: norm("embeddings.LayerNorm")?,
            layers,
            hidden: h,
            heads: config.num_attention_heads,
            eps: config.layer_norm_eps as f32,
            positions: config.max_position_embeddings,
            vocab,
        })
    }

    /// Mean-pooled, L2-normalised vectors of texts whose token ids all have
    /// one length.
    pub fn forward(&self, ids: &[&[u32]], scratch: &mut Scratch) -> Result<Vec<Vec<f32>>, String> {
        let len = ids.first().map_or(0, |i| i.len());
        if len == 0 || len > self.positions || ids.iter().any(|i| i.len() != len) {
            return Err(format!(
                "{} texts of {len} tokens: not one length in 1..={}",
                ids.len(),
                self.positions
            ));
        }
        if let Some(bad) = ids.iter().flat_map(|i| i.iter()).find(|&&t| t as usize >= self.vocab) {
            return Err(format!("token id {bad} outside the vocabulary"));
        }
        #[cfg(target_arch = "x86_64")]
        if vnni_available() {
            // SAFETY: the CPU has the features `forward_wide` is compiled
            // for (vnni_available checks avx512f, avx512bw and avx512vnni).
            return Ok(unsafe { self.forward_wide(ids, len, scratch) });
        }
        Ok(self.forward_body(ids, len, scratch))
    }

    /// `forward_body` compiled for AVX-512.
    ///
    /// # Safety
    ///
    /// The CPU must have avx512f and avx512bw.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    unsafe fn forward_wide(&self, ids: &[&[u32]], len: usize, s: &mut Scratch) -> Vec<Vec<f32>> {
        self.forward_body(ids, len, s)
    }

    #[inline(always)]
    fn forward_body(&self, ids: &[&[u32]], len: usize, s: &mut Scratch) -> Vec<Vec<f32>> {
        let h = self.hidden;
        let m = ids.len() * len;
        s.x.resize(m * h, 0.0);
        for (row, id) in ids.iter().flat_map(|i| i.iter().enumerate()).enumerate() {
            let (pos, &token) = id;
            let word = &self.word[token as usize * h..][..h];
            let position = &self.position[pos * h..][..h];
            for (((x, w), p), t) in
                s.x[row * h..][..h].iter_mut().zip(word).zip(position).zip(&self.token_type)
            {
                *x = w + p + t;
            }
        }
        layer_norm(&mut s.x, &self.embedding_norm, self.eps, h);
        for layer in &self.layers {
            self.layer(layer, ids.len(), len, s);
        }
        // Mean over each text's tokens, then unit length.
        s.x.chunks_exact(len * h)
            .map(|tokens| {
                let mut v = vec![0f32; h];
                for token in tokens.chunks_exact(h) {
                    for (a, b) in v.iter_mut().zip(token) {
                        *a += b;
                    }
                }
                let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(f32::MIN_POSITIVE);
                v.iter_mut().for_each(|x| *x /= norm);
                v
            })
            .collect()
    }

    #[inline(always)]
    fn layer(&self, layer: &Layer, texts: usize, len: usize, s: &mut Scratch) {
        let h = self.hidden;
        let m = texts * len;
        s.quant.quantise(&s.x, m, h);
        s.qkv.resize(m * 3 * h, 0.0);
        layer.qkv.forward(&s.quant, &mut s.qkv);
        s.context.resize(m * h, 0.0);
        for t in 0..texts {
            self.attention(t, len, s);
        }
        s.quant.quantise(&s.context, m, h);
        s.tmp.resize(m * h, 0.0);
        layer.attention_out.forward(&s.quant, &mut s.tmp);
        add_and_norm(&mut s.tmp, &s.x, &layer.attention_norm, self.eps, h);
        std::mem::swap(&mut s.x, &mut s.tmp);
        s.quant.quantise(&s.x, m, h);
        let inter = layer.up.outputs();
        s.up.resize(m * inter, 0.0);
        layer.up.forward(&s.quant, &mut s.up);
        s.up.iter_mut().for_each(|v| *v = gelu(*v));
        s.quant.quantise(&s.up, m, inter);
        layer.down.forward(&s.quant, &mut s.tmp);
        add_and_norm(&mut s.tmp, &s.x, &layer.out_norm, self.eps, h);
        std::mem::swap(&mut s.x, &mut s.tmp);
    }

    /// Self-attention of text `t` (its `len` tokens' rows of `s.qkv`) into
    /// its rows of `s.context`, head by head. Written for the vectoriser
    /// (perf put the first, plainer version at a third of the model's
    /// time): scores 16 keys at a time in one accumulator, the softmax's
    /// exponentials in a loop of their own, and each output row summed in
    /// 16-lane accumulators that stay in registers.
    #[inline(always)]
    fn attention(&self, t: usize, len: usize, s: &mut Scratch) {
        let h = self.hidden;
        let d = h / self.heads;
        let scale = 1.0 / (d as f32).sqrt();
        let rows = &s.qkv[t * len * 3 * h..][..len * 3 * h];
        // Keys transposed (d rows of `stride`, zero past len), so that a
        // block of 16 scores is one multiply-add per dimension.
        let stride = len.next_multiple_of(LANES);
        s.keys_t.clear();
        s.keys_t.resize(d * stride, 0.0);
        s.scores.resize(stride, 0.0);
        for head in 0..self.heads {
            for j in 0..len {
                for dd in 0..d {
                    s.keys_t[dd * stride + j] = rows[j * 3 * h + h + head * d + dd];
                }
            }
            for i in 0..len {
                let query = &rows[i * 3 * h + head * d..][..d];
                for block in (0..stride).step_by(LANES) {
                    let mut acc = [0f32; LANES];
                    for (dd, &q) in query.iter().enumerate() {
                        axpy(&mut acc, q, lanes(&s.keys_t[dd * stride + block..]));
                    }
                    s.scores[block..block + LANES].copy_from_slice(&acc);
                }
                let scores = &mut s.scores[..len];
                let max = lane_max(scores) * scale;
                for x in scores.iter_mut() {
                    *x = exp(*x * scale - max);
                }
                let sum = lane_sum(scores);
                let out = &mut s.context[(t * len + i) * h + head * d..][..d];
                weighted_sum(scores, |j| &rows[j * 3 * h + 2 * h + head * d..][..d], out);
                out.iter_mut().for_each(|x| *x /= sum);
            }
        }
    }
}

/// Lanes of the accumulators the loops here keep: one AVX-512 vector.
const LANES: usize = 16;

/// The first LANES values of a slice, as an array (no bounds checks
/// after this one, so that the loops over it unroll into one vector).
#[inline(always)]
fn lanes(values: &[f32]) -> &[f32; LANES] {
    values[..LANES].try_into().expect("LANES values")
}

/// `acc += a · x`, lane by lane.
#[inline(always)]
fn axpy(acc: &mut [f32; LANES], a: f32, x: &[f32; LANES]) {
    for l in 0..LANES {
        acc[l] += a * x[l];
    }
}

/// `out = Σ_j weights[j] · row(j)`, 16 columns at a time in a register.
#[inline(always)]
fn weighted_sum<'a>(weights: &[f32], row: impl Fn(usize) -> &'a [f32], out: &mut [f32]) {
    let d = out.len();
    let whole = d - d % LANES;
    for c in (0..whole).step_by(LANES) {
        let mut acc = [0f32; LANES];
        for (j, &p) in weights.iter().enumerate() {
            axpy(&mut acc, p, lanes(&row(j)[c..]));
        }
        out[c..c + LANES].copy_from_slice(&acc);
    }
    for (c, o) in out.iter_mut().enumerate().skip(whole) {
        *o = weights.iter().enumerate().map(|(j, &p)| p * row(j)[c]).sum();
    }
}

/// `out = LayerNorm(out + residual)`, row by row.
#[inline(always)]
fn add_and_norm(out: &mut [f32], residual: &[f32], norm: &LayerNorm, eps: f32, h: usize) {
    for (o, r) in out.iter_mut().zip(residual) {
        *o += r;
    }
    layer_norm(out, norm, eps, h);
}

#[inline(always)]
fn layer_norm(x: &mut [f32], norm: &LayerNorm, eps: f32, h: usize) {
    for row in x.chunks_exact_mut(h) {
        let mean = lane_sum(row) / h as f32;
        let mut var = 0.0;
        for chunk in row.chunks(LANES) {
            let mut sq = [0f32; LANES];
            for (q, &v) in sq.iter_mut().zip(chunk) {
                *q = (v - mean) * (v - mean);
            }
            var += lane_sum(&sq);
        }
        let var = var / h as f32;
        let inv = 1.0 / (var + eps).sqrt();
        for ((v, w), b) in row.iter_mut().zip(&norm.weight).zip(&norm.bias) {
            *v = (*v - mean) * inv * w + b;
        }
    }
}

/// A sum in 16 lanes (so that it vectorises), then across them.
#[inline(always)]
fn lane_sum(values: &[f32]) -> f32 {
    let mut lanes = [0f32; LANES];
    let chunks = values.chunks_exact(LANES);
    let rest: f32 = chunks.remainder().iter().sum();
    for chunk in chunks {
        for (l, &v) in lanes.iter_mut().zip(chunk) {
            *l += v;
        }
    }
    lanes.iter().sum::<f32>() + rest
}

/// The largest value (none is NaN), in 16 lanes.
#[inline(always)]
fn lane_max(values: &[f32]) -> f32 {
    let mut lanes = [f32::NEG_INFINITY; LANES];
    let chunks = values.chunks_exact(LANES);
    let rest = chunks.remainder().iter().fold(f32::NEG_INFINITY, |m, &v| if v > m { v } else { m });
    for chunk in chunks {
        for (l, &v) in lanes.iter_mut().zip(chunk) {
            *l = if v > *l { v } else { *l };
        }
    }
    lanes.iter().fold(rest, |m, &v| if v > m { v } else { m })
}

/// GELU as BERT defines it: x Φ(x) = x (1 + erf(x / √2)) / 2.
#[inline(always)]
fn gelu(x: f32) -> f32 {
    0.5 * x * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2))
}

/// erf for f32, a rational approximation without branches (the one Eigen
/// and XLA use): exact to a few ulps, and outside [-4, 4] it is ±1.
#[inline(always)]
fn erf(x: f32) -> f32 {
    let x = x.clamp(-4.0, 4.0);
    let x2 = x * x;
    let mut p = x2 * -2.726_142_3e-10 + 2.770_681_4e-8;
    p = x2 * p + -2.101_024e-6;
    p = x2 * p + -5.692_506_4e-5;
    p = x2 * p + -7.349_906_3e-4;
    p = x2 * p + -2.954_600_1e-3;
    p = x2 * p + -1.609_603_3e-2;
    p *= x;
    let mut q = x2 * -1.456_607_2e-5 + -2.133_740_5e-4;
    q = x2 * q + -1.682_827e-3;
    q = x2 * q + -7.373_329e-3;
    q = x2 * q + -1.426_474e-2;
    p / q
}

/// e^x for f32 without branches (Cephes' polynomial on x reduced by
/// powers of two): within 2 ulps over the softmax's range (x <= 0).
#[inline(always)]
fn exp(x: f32) -> f32 {
    let x = x.clamp(-87.0, 88.0);
    let n = (x * std::f32::consts::LOG2_E).round_ties_even();
    let r = x - n * 0.693_359_4 - n * -2.121_944_4e-4;
    let mut p = 1.987_569_1e-4;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 0.5;
    let e = p * r * r + r + 1.0;
    e * f32::from_bits(((n as i32 + 127) as u32) << 23)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erf_matches_known_values() {
        for (x, want) in [
            (0.0, 0.0),
            (0.1, 0.112_462_916),
            (0.5, 0.520_499_9),
            (1.0, 0.842_700_8),
            (-1.5, -0.966_105_15),
            (2.0, 0.995_322_3),
            (3.0, 0.999_977_9),
            (9.0, 1.0),
        ] {
            assert!((erf(x) - want).abs() < 2e-7, "erf({x}) = {} not {want}", erf(x));
        }
    }

    #[test]
    fn exp_matches_the_library_over_the_softmax_range() {
        let mut x = -90.0f32;
        while x <= 5.0 {
            let (got, want) = (exp(x), x.max(-87.0).exp());
            assert!((got - want).abs() <= want * 3e-7, "exp({x}) = {got} not {want}");
            x += 0.0137;
        }
    }
}
