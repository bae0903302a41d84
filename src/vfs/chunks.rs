//! A large file's hash from its chunks, without holding the file.
//!
//! A file's content is named by the blake3 hash of its bytes, and a large
//! one is stored as 1 MiB chunks ([`CHUNK_SIZE`]). BLAKE3 is a tree hash
//! whose leaves are 1 KiB, so each 1 MiB chunk at its offset is a whole
//! subtree of the file's tree: its chaining value depends only on its bytes
//! and its index. Keeping one 32-byte value per chunk, a flush hashes only
//! the chunks written since the last one and merges the rest, instead of
//! reading the whole file back (`blake3::hazmat`, checked against
//! `blake3::hash` below).

use blake3::hazmat::{
    ChainingValue, HasherExt, Mode, merge_subtrees_non_root, merge_subtrees_root,
};

use crate::ids::ContentHash;
use crate::store::CHUNK_SIZE;

/// The chunk size, as file offsets count.
pub const CHUNK: u64 = CHUNK_SIZE as u64;

/// Chaining value of the chunk at `index` holding `bytes` (a whole chunk,
/// or the file's last, shorter one).
pub fn chunk_cv(index: u64, bytes: &[u8]) -> ChainingValue {
    blake3::Hasher::new().set_input_offset(index * CHUNK).update(bytes).finalize_non_root()
}

/// The chaining value of a hole: `len` zero bytes at chunk `index`.
pub fn zero_cv(index: u64, len: usize) -> ChainingValue {
    static ZEROS: [u8; 64 * 1024] = [0; 64 * 1024];
    let mut hasher = blake3::Hasher::new();
    hasher.set_input_offset(index * CHUNK);
    let mut left = len;
    while left > 0 {
        let n = left.min(ZEROS.len());
        hasher.update(&ZEROS[..n]);
        left -= n;
    }
    hasher.finalize_non_root()
}

/// The hash of a file of `size` bytes (more than one chunk) from the
/// chaining values of its chunks, in order.
pub fn file_hash(cvs: &[ChainingValue], size: u64) -> ContentHash {
    assert!(size > CHUNK && cvs.len() as u64 == size.div_ceil(CHUNK), "{size} {}", cvs.len());
    let (left, right) = split(cvs, size);
    let root = merge_subtrees_root(&left, &right, Mode::Hash);
    ContentHash::from_bytes(*root.as_bytes())
}

/// The left and right subtrees of `len` bytes, as blake3 shapes its tree:
/// the left holds the largest power-of-two number of leaves that is less
/// than the whole, so for anything over a chunk it ends on a chunk.
fn split(cvs: &[ChainingValue], len: u64) -> (ChainingValue, ChainingValue) {
    let left_len = blake3::hazmat::left_subtree_len(len);
    let left_chunks = (left_len / CHUNK) as usize;
    (subtree(&cvs[..left_chunks], left_len), subtree(&cvs[left_chunks..], len - left_len))
}

fn subtree(cvs: &[ChainingValue], len: u64) -> ChainingValue {
    if cvs.len() == 1 {
        return cvs[0];
    }
    let (left, right) = split(cvs, len);
    merge_subtrees_non_root(&left, &right, Mode::Hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(len: usize, seed: u8) -> Vec<u8> {
        (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
    }

    #[test]
    fn merged_chunk_values_give_the_files_hash() {
        let c = CHUNK as usize;
        for len in [c + 1, 2 * c, 2 * c + 7, 3 * c, 3 * c + 1000, 4 * c, 5 * c + 1, 9 * c - 3] {
            let data = bytes(len, len as u8);
            let cvs: Vec<ChainingValue> =
                data.chunks(c).enumerate().map(|(i, piece)| chunk_cv(i as u64, piece)).collect();
            assert_eq!(file_hash(&cvs, len as u64), ContentHash::of(&data), "{len}");
        }
    }

    #[test]
    fn holes_hash_as_zeros() {
        let c = CHUNK as usize;
        let mut data = vec![0u8; 3 * c + 5];
        data[3 * c..].copy_from_slice(b"tail!");
        let cvs = vec![zero_cv(0, c), zero_cv(1, c), zero_cv(2, c), chunk_cv(3, b"tail!")];
        assert_eq!(file_hash(&cvs, data.len() as u64), ContentHash::of(&data));
        assert_eq!(zero_cv(1, c), chunk_cv(1, &vec![0; c]));
    }
}
