//! What a slot holds once its parts cover every item: the [`Part`]s
//! workers reported, assembled in item order into an [`Outcome`], and
//! decoded result by result as the caller asks for them ([`Decoded`]).

use std::marker::PhantomData;
use std::os::fd::OwnedFd;

use serde::de::DeserializeOwned;

use crate::error::TaskError;
use crate::ipc::codec;
use crate::ipc::frame::FrameFds;
use crate::ipc::lost::Receiver;
use crate::ipc::panic::PanicReport;
use crate::ipc::protocol::{Record, Records, Tag};
use crate::output::ItemOutput;

/// Results for a run of items.
#[derive(Debug)]
pub(crate) enum Part {
    /// Items `first..first + count` reported by a worker, as records.
    Records {
        first: u32,
        count: u32,
        bytes: Vec<u8>,
        /// The records' descriptors.
        fds: FrameFds,
        /// The largest out-of-line result accepted.
        limit: usize,
        elapsed_ns: u64,
    },
    /// Items `first..first + count` failed with `error`.
    Failed { first: u32, count: u32, error: TaskError },
}

impl Part {
    pub(crate) fn first(&self) -> u32 {
        match self {
            Part::Records { first, .. } | Part::Failed { first, .. } => *first,
        }
    }

    pub(crate) fn count(&self) -> u32 {
        match self {
            Part::Records { count, .. } | Part::Failed { count, .. } => *count,
        }
    }
}

/// The complete outcome of a slot: parts in item order, covering all items.
#[derive(Debug)]
pub(crate) struct Outcome {
    pub(super) parts: Vec<Part>,
    /// What items wrote, by index, when the pool captures output.
    pub(super) outputs: Vec<(u32, ItemOutput)>,
}

impl Outcome {
    /// What each of the slot's `items` items wrote, in order (empty when
    /// nothing was captured).
    pub(crate) fn take_outputs(&mut self, items: u32) -> Vec<ItemOutput> {
        let mut all = vec![ItemOutput::default(); items as usize];
        for (index, output) in self.outputs.drain(..) {
            if let Some(slot) = all.get_mut(index as usize) {
                slot.append(output);
            }
        }
        all
    }

    /// Total worker time the items took, as the workers measured it.
    pub(crate) fn elapsed_ns(&self) -> u64 {
        self.parts
            .iter()
            .map(|p| match p {
                Part::Records { elapsed_ns, .. } => *elapsed_ns,
                Part::Failed { .. } => 0,
            })
            .sum()
    }

    /// Every item's result, in order, decoded as it is asked for (a `map`
    /// chunk may hold 65,536 of them).
    pub(crate) fn into_results<R: DeserializeOwned>(self) -> Decoded<R> {
        Decoded {
            parts: self.parts.into_iter(),
            current: None,
            result: PhantomData,
        }
    }

    /// The parts, in item order, as the workers reported them (a cluster
    /// node forwards them without decoding).
    #[cfg(feature = "cluster")]
    pub(crate) fn into_parts(self) -> Vec<Part> {
        self.parts
    }

    /// Decodes the outcome of a single-item slot.
    pub(crate) fn decode_one<R: DeserializeOwned>(self) -> Result<R, TaskError> {
        self.into_results().next().unwrap_or_else(|| {
            Err(TaskError::Protocol {
                message: "no result".into(),
            })
        })
    }
}

/// See [`Outcome::into_results`].
#[derive(Debug)]
pub(crate) struct Decoded<R> {
    parts: std::vec::IntoIter<Part>,
    current: Option<Current>,
    result: PhantomData<fn() -> R>,
}

/// The part being decoded.
#[derive(Debug)]
enum Current {
    Failed {
        error: TaskError,
        left: u32,
    },
    /// Records from byte `at` on, with their descriptors.
    Records {
        bytes: Vec<u8>,
        at: usize,
        left: u32,
        fds: FrameFds,
        limit: usize,
    },
}

impl<R: DeserializeOwned> Iterator for Decoded<R> {
    type Item = Result<R, TaskError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            match &mut self.current {
                Some(Current::Failed { error, left }) if *left > 0 => {
                    *left -= 1;
                    return Some(Err(error.clone()));
                }
                Some(Current::Records {
                    bytes,
                    at,
                    left,
                    fds,
                    limit,
                }) if *left > 0 => {
                    *left -= 1;
                    let mut records = Records::new(bytes.get(*at..).unwrap_or_default());
                    let result = match records.next() {
                        Some(Ok(record)) => match fds.take(record.item.fds()) {
                            Ok(item_fds) => decode_record(record, item_fds, *limit),
                            Err(lost) => Err(TaskError::Codec {
                                message: format!(
                                    "cannot decode the result: {}",
                                    lost.message(&record.item, 0, Receiver::Caller)
                                ),
                            }),
                        },
                        Some(Err(e)) => Err(TaskError::Protocol { message: e.to_string() }),
                        // The supervisor checked the count; this only
                        // guards a broken invariant without losing an item.
                        None => Err(TaskError::Protocol {
                            message: "missing result record".into(),
                        }),
                    };
                    *at = match result {
                        Err(TaskError::Protocol { .. }) => bytes.len(),
                        _ => bytes.len() - records.remaining(),
                    };
                    return Some(result);
                }
                _ => {}
            }
            self.current = Some(match self.parts.next()? {
                Part::Failed { count, error, .. } => Current::Failed { error, left: count },
                Part::Records {
                    count,
                    bytes,
                    fds,
                    limit,
                    ..
                } => Current::Records {
                    bytes,
                    at: 0,
                    left: count,
                    fds,
                    limit,
                },
            });
        }
    }
}

fn decode_record<R: DeserializeOwned>(
    record: Record<'_>,
    fds: Vec<Option<OwnedFd>>,
    limit: usize,
) -> Result<R, TaskError> {
    match record.tag {
        Tag::Ok => codec::decode(&record.item, fds, limit).map_err(|e| TaskError::Codec {
            message: format!("cannot decode the result: {}", e.reason()),
        }),
        tag => Err(failure(tag, record.item.inline)),
    }
}

/// The error a record other than `Ok` stands for. Kept out of line: `map`
/// decodes millions of `Ok` records a second.
#[cold]
#[inline(never)]
fn failure(tag: Tag, bytes: &[u8]) -> TaskError {
    match tag {
        Tag::Panicked => PanicReport::decode(bytes).into_error(),
        Tag::Codec => TaskError::Codec {
            message: String::from_utf8_lossy(bytes).into_owned(),
        },
        Tag::Cancelled => TaskError::Cancelled,
        Tag::Ok => TaskError::Protocol {
            message: "a result where an error was expected".into(),
        },
    }
}
