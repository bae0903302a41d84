//! The words of code and of queries as the keyword index counts them.
//!
//! Kept beside the store because the keyword index (`postings`) is built
//! from these words, and a query is read with the same function, so that
//! the two always agree.

/// The words of a text as the keyword index counts them: split at
/// anything not a letter or digit and at camelCase humps, lowercased, at
/// least two characters, stemmed (snowball, English; rust-stemmers).
pub fn terms_of(text: &str) -> std::collections::BTreeSet<String> {
    term_parts(text).into_iter().map(|(stem, _)| stem).collect()
}

/// Each part of `terms_of` before stemming, with its stem.
pub fn term_parts(text: &str) -> Vec<(String, String)> {
    let stemmer = rust_stemmers::Stemmer::create(rust_stemmers::Algorithm::English);
    let mut out = Vec::new();
    for word in text.split(|c: char| !c.is_alphanumeric()) {
        let mut start = 0;
        let chars: Vec<(usize, char)> = word.char_indices().collect();
        for i in 1..=chars.len() {
            let boundary =
                i == chars.len() || (chars[i].1.is_uppercase() && chars[i - 1].1.is_lowercase());
            if boundary {
                let end = chars.get(i).map_or(word.len(), |c| c.0);
                let part = word[start..end].to_lowercase();
                if part.chars().count() >= 2 {
                    out.push((stemmer.stem(&part).into_owned(), part));
                }
                start = end;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_split_identifiers() {
        let t: Vec<String> =
            terms_of("fn retryUpload(file_path: &Path) -> x").into_iter().collect();
        assert_eq!(t, ["file", "fn", "path", "retri", "upload"]);
    }
}
