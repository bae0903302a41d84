//! A dense layer in 8-bit integers: weights quantised once per output
//! (symmetric, `i8`), each input row quantised as it comes (asymmetric,
//! `u8` with a zero point), products summed in `i32` and scaled back to
//! `f32`. On a CPU with AVX-512 VNNI one `vpdpbusd` does 64 of those
//! multiply-adds, four times what an `f32` FMA of the same width does; the
//! f32 products candle runs were 70-77% of embedding time (perf).
//!
//! Asymmetric rows because the inputs are not centred (a GELU's output
//! hardly goes below zero): measured against the f32 model over 62 texts
//! (`scripts/embed_ref.py` with quantisation added), symmetric rows gave a
//! lowest cosine of 0.9908, asymmetric ones 0.9973.
//!
//! Two kernels compute the same integers: `vnni` (x86-64, chosen at run
//! time) and `portable` (anything else, and the reference its tests hold
//! the fast one to, bit for bit).

/// Output columns per block of the packed weight: two 16-lane vectors.
const NR: usize = 32;

/// Input rows per call of the micro-kernel.
const MR: usize = 8;

/// A linear layer `y = x Wᵀ + b` held in 8-bit integers.
pub struct QLinear {
    /// Outputs (n) and inputs (k) per row.
    n: usize,
    k: usize,
    /// Weights as `vpdpbusd` reads them: for each block of NR outputs and
    /// each group of four inputs, NR × 4 bytes (output-major).
    packed: Vec<i8>,
    /// Per output: the sum of its quantised weights (to take the input's
    /// zero point back out) and its scale.
    colsum: Vec<i32>,
    scale: Vec<f32>,
    bias: Vec<f32>,
}

/// An input quantised: `u8` rows with their scales and zero points.
#[derive(Default)]
pub struct QuantRows {
    data: Vec<u8>,
    scale: Vec<f32>,
    zero: Vec<i32>,
    rows: usize,
    k: usize,
}

impl QuantRows {
    /// Quantises the `m` rows of `x` (each `k` wide), reusing the buffers.
    #[inline(always)]
    pub fn quantise(&mut self, x: &[f32], m: usize, k: usize) {
        debug_assert_eq!(x.len(), m * k);
        // Rows past m (to a multiple of MR) are zero points: the kernel
        // reads whole blocks and their outputs are never stored.
        let padded = m.div_ceil(MR) * MR;
        self.data.resize(padded * k, 0);
        self.scale.resize(padded, 1.0);
        self.zero.resize(padded, 0);
        for (i, row) in x.chunks_exact(k).enumerate() {
            let (scale, zero) = quantise_row(row, &mut self.data[i * k..(i + 1) * k]);
            self.scale[i] = scale;
            self.zero[i] = zero;
        }
        self.rows = m;
        self.k = k;
    }
}

impl QLinear {
    /// The layer whose weight is `weight` (n rows of k, as PyTorch's
    /// `Linear` stores it) and bias `bias`. Panics unless `n` is a multiple
    /// of 32 and `k` of 4 (every layer of BERT's sizes is).
    pub fn new(weight: &[f32], bias: &[f32], n: usize, k: usize) -> QLinear {
        assert!(
            n.is_multiple_of(NR) && k.is_multiple_of(4) && weight.len() == n * k && bias.len() == n
        );
        let mut packed = vec![0i8; n * k];
        let mut colsum = vec![0i32; n];
        let mut scale = vec![0f32; n];
        for j in 0..n {
            let row = &weight[j * k..(j + 1) * k];
            let max = row.iter().fold(0f32, |m, v| m.max(v.abs()));
            let s = if max > 0.0 { max / 127.0 } else { 1.0 };
            scale[j] = s;
            for (kk, &w) in row.iter().enumerate() {
                let q = (w / s).round().clamp(-127.0, 127.0) as i8;
                packed[packed_index(j, kk, k)] = q;
                colsum[j] += i32::from(q);
            }
        }
        QLinear { n, k, packed, colsum, scale, bias: bias.to_vec() }
    }

    pub fn outputs(&self) -> usize {
        self.n
    }

    /// `out = x Wᵀ + b` for the rows `x` holds (out: rows × n).
    pub fn forward(&self, x: &QuantRows, out: &mut [f32]) {
        self.check_shapes(x, out);
        #[cfg(target_arch = "x86_64")]
        if vnni_available() {
            // SAFETY: the CPU has the features `vnni` is compiled for
            // (checked just above), and the shapes were checked.
            unsafe { vnni(self, x, out) };
            return;
        }
        portable(self, x, out);
    }

    /// The same product by the portable kernel, whatever the CPU (tests).
    pub fn forward_portable(&self, x: &QuantRows, out: &mut [f32]) {
        self.check_shapes(x, out);
        portable(self, x, out);
    }

    /// The VNNI kernel's raw loads rely on these shapes: checked here,
    /// once, before either kernel runs.
    fn check_shapes(&self, x: &QuantRows, out: &[f32]) {
        assert_eq!(x.k, self.k, "input width");
        assert_eq!(out.len(), x.rows * self.n, "output length");
    }

    /// Scales an accumulated dot product of row `i`, output `j` back to f32.
    #[inline(always)]
    fn dequantise(&self, x: &QuantRows, i: usize, j: usize, acc: i32) -> f32 {
        (acc - x.zero[i] * self.colsum[j]) as f32 * (x.scale[i] * self.scale[j]) + self.bias[j]
    }
}

/// Quantises one row into `out`: its scale and zero point. Inlined into
/// callers compiled for wide vectors (`crate::bert`), where it vectorises.
#[inline(always)]
fn quantise_row(row: &[f32], out: &mut [u8]) -> (f32, i32) {
    // Lane-wise, with plain comparisons (f32::min's NaN rules kept the
    // compiler from vectorising it: 8% of the model's time in perf).
    let (mut lo, mut hi) = ([0f32; 16], [0f32; 16]);
    let chunks = row.chunks_exact(16);
    for &v in chunks.remainder() {
        lo[0] = if v < lo[0] { v } else { lo[0] };
        hi[0] = if v > hi[0] { v } else { hi[0] };
    }
    for chunk in chunks {
        let chunk: &[f32; 16] = chunk.try_into().expect("16 values");
        for l in 0..16 {
            lo[l] = if chunk[l] < lo[l] { chunk[l] } else { lo[l] };
            hi[l] = if chunk[l] > hi[l] { chunk[l] } else { hi[l] };
        }
    }
    let lo = lo.iter().fold(0f32, |m, &v| if v < m { v } else { m });
    let hi = hi.iter().fold(0f32, |m, &v| if v > m { v } else { m });
    let scale = if hi > lo { (hi - lo) / 255.0 } else { 1.0 };
    let zero = (-lo / scale).round_ties_even().clamp(0.0, 255.0);
    let inv = 1.0 / scale;
    for (q, &v) in out.iter_mut().zip(row) {
        // Rounded to the nearest (ties to even) by the addition of 2^23,
        // whose low mantissa bits are then the integer: no float-to-int
        // conversion, which the compiler would not vectorise.
        let y = (v * inv + zero).clamp(0.0, 255.0) + 8_388_608.0;
        *q = (y.to_bits() & 0xFF) as u8;
    }
    (scale, zero as i32)
}

/// Where weight (output j, input kk) sits in the packed layout.
fn packed_index(j: usize, kk: usize, k: usize) -> usize {
    ((j / NR) * (k / 4) + kk / 4) * NR * 4 + (j % NR) * 4 + kk % 4
}

/// True when this CPU runs the `vnni` kernel.
pub fn vnni_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        static HAS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        *HAS.get_or_init(|| {
            is_x86_feature_detected!("avx512f")
                && is_x86_feature_detected!("avx512bw")
                && is_x86_feature_detected!("avx512vnni")
        })
    }
    #[cfg(not(target_arch = "x86_64"))]
    false
}

fn portable(layer: &QLinear, x: &QuantRows, out: &mut [f32]) {
    let (n, k) = (layer.n, layer.k);
    for i in 0..x.rows {
        let a = &x.data[i * k..(i + 1) * k];
        for j in 0..n {
            let acc: i32 = a
                .iter()
                .enumerate()
                .map(|(kk, &v)| i32::from(v) * i32::from(layer.packed[packed_index(j, kk, k)]))
                .sum();
            out[i * n + j] = layer.dequantise(x, i, j, acc);
        }
    }
}

/// The product on AVX-512 VNNI: for each block of 32 outputs (its weights,
/// 32 × k bytes, stay in L1/L2 while every row passes), MR rows at a time,
/// 2 × MR accumulators of 16 lanes, each step four inputs deep.
///
/// # Safety
///
/// The CPU must have avx512f, avx512bw and avx512vnni.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
unsafe fn vnni(layer: &QLinear, x: &QuantRows, out: &mut [f32]) {
    use std::arch::x86_64::*;
    let (n, k) = (layer.n, layer.k);
    let steps = k / 4;
    for block in 0..n / NR {
        let weights = layer.packed[block * steps * NR * 4..(block + 1) * steps * NR * 4].as_ptr();
        for first in (0..x.rows).step_by(MR) {
            let rows = x.data[first * k..(first + MR) * k].as_ptr();
            let mut acc = [[_mm512_setzero_si512(); 2]; MR];
            for step in 0..steps {
                // SAFETY: `weights` holds steps × 128 bytes and `rows` MR
                // rows of k bytes (QuantRows pads to MR); unaligned loads.
                let (b0, b1) = unsafe {
                    let w = weights.add(step * NR * 4);
                    (_mm512_loadu_si512(w.cast()), _mm512_loadu_si512(w.add(64).cast()))
                };
                for (r, acc) in acc.iter_mut().enumerate() {
                    // SAFETY: as above; four bytes of row r at this step.
                    let a = unsafe {
                        _mm512_set1_epi32(rows.add(r * k + step * 4).cast::<i32>().read_unaligned())
                    };
                    acc[0] = _mm512_dpbusd_epi32(acc[0], a, b0);
                    acc[1] = _mm512_dpbusd_epi32(acc[1], a, b1);
                }
            }
            // Scaled back as `dequantise` does, 16 lanes at once (separate
            // multiply and add, no FMA: the same roundings, the same bits).
            for (r, acc) in acc.iter().enumerate().take(x.rows - first) {
                let i = first + r;
                let zero = _mm512_set1_epi32(x.zero[i]);
                let row_scale = _mm512_set1_ps(x.scale[i]);
                for (half, &v) in acc.iter().enumerate() {
                    let j = block * NR + half * 16;
                    // SAFETY: j + 16 <= n for colsum, scale and bias (n is
                    // a multiple of NR), and i * n + j + 16 <= out.len().
                    unsafe {
                        let colsum = _mm512_loadu_si512(layer.colsum.as_ptr().add(j).cast());
                        let scale = _mm512_loadu_ps(layer.scale.as_ptr().add(j));
                        let bias = _mm512_loadu_ps(layer.bias.as_ptr().add(j));
                        let exact = _mm512_sub_epi32(v, _mm512_mullo_epi32(zero, colsum));
                        let scaled = _mm512_mul_ps(
                            _mm512_cvtepi32_ps(exact),
                            _mm512_mul_ps(row_scale, scale),
                        );
                        let y = _mm512_add_ps(scaled, bias);
                        _mm512_storeu_ps(out.as_mut_ptr().add(i * n + j), y);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noise(seed: &mut u64, n: usize, spread: f32) -> Vec<f32> {
        (0..n)
            .map(|_| {
                *seed ^= *seed << 13;
                *seed ^= *seed >> 7;
                *seed ^= *seed << 17;
                ((*seed % 20_001) as f32 / 10_000.0 - 1.0) * spread
            })
            .collect()
    }

    #[test]
    fn the_fast_kernel_gives_the_portable_ones_numbers() {
        let mut seed = 0x2545_F491_4F6C_DD1D;
        for (m, n, k) in [(1, 32, 4), (7, 64, 384), (13, 96, 1536), (8, 32, 8)] {
            let w = noise(&mut seed, n * k, 0.1);
            let b = noise(&mut seed, n, 0.5);
            let mut x = noise(&mut seed, m * k, 3.0);
            x[0] = 40.0; // an outlier, as BERT's hidden states have
            let layer = QLinear::new(&w, &b, n, k);
            let mut q = QuantRows::default();
            q.quantise(&x, m, k);
            let (mut fast, mut slow) = (vec![0.0; m * n], vec![0.0; m * n]);
            layer.forward(&q, &mut fast);
            layer.forward_portable(&q, &mut slow);
            assert_eq!(fast, slow, "m {m} n {n} k {k} (vnni: {})", vnni_available());
        }
    }

    #[test]
    fn quantised_products_stay_near_the_f32_ones() {
        let mut seed = 88_172_645_463_325_252;
        let (m, n, k) = (5, 64, 384);
        let w = noise(&mut seed, n * k, 0.1);
        let b = noise(&mut seed, n, 0.5);
        let x = noise(&mut seed, m * k, 2.0);
        let layer = QLinear::new(&w, &b, n, k);
        let mut q = QuantRows::default();
        q.quantise(&x, m, k);
        let mut got = vec![0.0; m * n];
        layer.forward(&q, &mut got);
        for i in 0..m {
            for j in 0..n {
                let want: f32 = (0..k).map(|kk| x[i * k + kk] * w[j * k + kk]).sum::<f32>() + b[j];
                // Each product is off by at most half a step of each
                // quantiser; summed over k as a random walk, well under 0.1.
                assert!(
                    (got[i * n + j] - want).abs() < 0.1,
                    "{i},{j}: {} vs {want}",
                    got[i * n + j]
                );
            }
        }
    }
}
