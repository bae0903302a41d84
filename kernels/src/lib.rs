//! The embedding model's arithmetic, apart from the rest of Cortex so that
//! it is compiled optimised in every profile (`[profile.dev.package.
//! cortex-kernels]` in the workspace's Cargo.toml): its f32 loops are
//! written to be vectorised by the compiler, which does that from
//! opt-level 2 only, and the debug profile builds Cortex's own crates at 1.
//!
//! - `qlinear`: a dense layer in 8-bit integers (AVX-512 VNNI, or a
//!   portable kernel computing the same integers).
//! - `bert`: BERT's forward pass over plain slices with those layers.
//!
//! Knows nothing of files, tensors or the store: weights come in as `f32`
//! slices by name, token ids go in, vectors come out.

pub mod bert;
pub mod qlinear;
