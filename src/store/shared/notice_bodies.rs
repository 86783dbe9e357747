//! Notices at rest. The notices of one filing share most of their bytes
//! (the facts, the processor, the deadlines), so each is stored
//! zstd-compressed against a dictionary that is the raw content of the
//! filing's first notice: the shared bytes are stored once per filing and
//! each notice keeps little more than what is its own. A body comes back
//! bit-identical, so its detached JWS still verifies. A body stored without
//! a dictionary (before compression was introduced) is the notice as is.

use std::cell::RefCell;
use std::sync::Arc;

use rayon::prelude::*;

use crate::store::{NewNotice, StoreError};

/// A filing's compression dictionary, as stored.
#[derive(Clone)]
pub struct Dictionary {
    pub id: i64,
    pub content: Arc<Vec<u8>>,
}

/// The bodies of `notices` compressed against `dictionary`, in order, with
/// the notices given back. Compressing a chunk is CPU work: it runs off the
/// async threads.
pub async fn pack_notices(
    dictionary: &Dictionary,
    notices: Vec<NewNotice>,
) -> Result<(Vec<NewNotice>, Vec<Vec<u8>>), StoreError> {
    let content = dictionary.content.clone();
    let packing = tokio::task::spawn_blocking(move || {
        let packed = pack_bodies(&content, notices.par_iter().map(|n| n.body.as_slice()));
        (notices, packed)
    });
    let (notices, packed) = match packing.await {
        Ok(done) => done,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    };
    Ok((notices, packed?))
}

/// Fast: with a dictionary this close to every notice, higher levels save
/// a few bytes per notice at several times the cost, on the filing's path.
const LEVEL: i32 = 1;

/// Each of `bodies` compressed against `dictionary`, in order, on the
/// rayon pool.
fn pack_bodies<'a>(
    dictionary: &[u8],
    bodies: impl IndexedParallelIterator<Item = &'a [u8]>,
) -> Result<Vec<Vec<u8>>, StoreError> {
    bodies
        .map(|body| {
            ENCODER
                .with_borrow_mut(|encoder| {
                    encoder.run(
                        dictionary,
                        |dictionary| zstd::bulk::Compressor::with_dictionary(LEVEL, dictionary),
                        |context| context.compress(body),
                    )
                })
                .map_err(packing_failed)
        })
        .collect()
}

/// A stored body as it was signed: decompressed against its `dictionary`,
/// or as stored when it has none.
pub fn unpack_body(stored: Vec<u8>, dictionary: Option<&[u8]>) -> Result<Vec<u8>, StoreError> {
    let Some(dictionary) = dictionary else {
        return Ok(stored);
    };
    let size = zstd::zstd_safe::get_frame_content_size(&stored)
        .ok()
        .flatten()
        .ok_or_else(|| StoreError::Corrupt("a notice body is not a zstd frame".into()))?;
    DECODER
        .with_borrow_mut(|decoder| {
            decoder.run(
                dictionary,
                zstd::bulk::Decompressor::with_dictionary,
                |context| context.decompress(&stored, size as usize),
            )
        })
        .map_err(|e| StoreError::Corrupt(format!("a notice body does not decompress: {e}")))
}

thread_local! {
    /// The notices compressed or claimed together mostly share one filing's
    /// dictionary: a context per notice, or per rayon job, would be
    /// allocated and primed with it every time.
    static ENCODER: RefCell<Primed<zstd::bulk::Compressor<'static>>> = const { RefCell::new(Primed(None)) };
    static DECODER: RefCell<Primed<zstd::bulk::Decompressor<'static>>> = const { RefCell::new(Primed(None)) };
}

/// A zstd context, kept with the dictionary it was last primed with.
struct Primed<C>(Option<(Vec<u8>, C)>);

impl<C> Primed<C> {
    /// Runs `work` with a context primed with `dictionary`: the kept one if
    /// it has that dictionary, else a new one from `prime`, kept for next time.
    fn run<T>(
        &mut self,
        dictionary: &[u8],
        prime: impl FnOnce(&[u8]) -> std::io::Result<C>,
        work: impl FnOnce(&mut C) -> std::io::Result<T>,
    ) -> std::io::Result<T> {
        match &mut self.0 {
            Some((primed, context)) if primed.as_slice() == dictionary => work(context),
            _ => {
                // Left unprimed if priming fails, so a bad dictionary is not kept.
                self.0 = None;
                let mut context = prime(dictionary)?;
                let done = work(&mut context);
                self.0 = Some((dictionary.to_vec(), context));
                done
            }
        }
    }
}

fn packing_failed(e: std::io::Error) -> StoreError {
    StoreError::Corrupt(format!("a notice body does not compress: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_come_back_bit_identical_and_smaller() {
        let notice = |client: &str| {
            format!(
                r#"{{"client":"{client}","facts":"{}","sequence":1}}"#,
                "the same facts for every client ".repeat(40)
            )
            .into_bytes()
        };
        let dictionary = notice("acme");
        let bodies = [notice("beta"), notice("gamma")];
        let packed = pack_bodies(&dictionary, bodies.par_iter().map(Vec::as_slice)).unwrap();
        for (body, packed) in bodies.iter().zip(packed) {
            assert!(packed.len() * 10 < body.len(), "{} bytes", packed.len());
            assert_eq!(&unpack_body(packed, Some(&dictionary)).unwrap(), body);
        }
        assert_eq!(unpack_body(b"{}".to_vec(), None).unwrap(), b"{}");
        assert!(matches!(
            unpack_body(b"{}".to_vec(), Some(&dictionary)),
            Err(StoreError::Corrupt(_))
        ));
    }

    /// Filings take turns on the same threads: a kept context is primed
    /// again whenever the dictionary changes, both ways.
    #[test]
    fn contexts_follow_the_dictionary_from_filing_to_filing() {
        let filing = |facts: &str| {
            let notice = |client: &str| {
                format!(r#"{{"client":"{client}","facts":"{}"}}"#, facts.repeat(60)).into_bytes()
            };
            (notice("acme"), [notice("beta"), notice("gamma")])
        };
        let filings = [
            filing("breach of the payroll system "),
            filing("lost laptop with HR files "),
        ];
        for (dictionary, bodies) in filings.iter().chain(&filings) {
            let packed = pack_bodies(dictionary, bodies.par_iter().map(Vec::as_slice)).unwrap();
            for (body, packed) in bodies.iter().zip(packed) {
                assert!(packed.len() * 10 < body.len(), "{} bytes", packed.len());
                assert_eq!(&unpack_body(packed, Some(dictionary)).unwrap(), body);
            }
        }
    }
}
