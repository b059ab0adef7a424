//! A result entry's parts: a pool's outcome as [`PartHead`]s and a body
//! of inline records, the way back to slot parts (checked: the parts must
//! tile the task's items exactly), and the split of one result among the
//! tasks that were sent together in one entry.

use crate::ipc::frame::FrameFds;
use crate::ipc::lost::Receiver;
use crate::ipc::protocol::{Records, Tag, push_item};
use crate::slot::Part;
use crate::sys::memfd::Sealed;

use super::{PartHead, WireError};

/// A pool's outcome as a result entry's parts and body, every record
/// inline (see [`inline_records`]).
pub(crate) fn parts_to_wire(parts: Vec<Part>) -> (Vec<PartHead>, Vec<u8>) {
    let mut heads = Vec::with_capacity(parts.len());
    let mut body = Vec::new();
    for part in parts {
        match part {
            Part::Records {
                first,
                count,
                bytes,
                fds,
                limit,
                elapsed_ns,
            } => {
                let bytes = inline_records(&bytes, fds, limit);
                heads.push(PartHead::Records {
                    first,
                    count,
                    len: u32::try_from(bytes.len()).unwrap_or(u32::MAX),
                    elapsed_ns,
                });
                if body.is_empty() {
                    body = bytes;
                } else {
                    body.extend_from_slice(&bytes);
                }
            }
            Part::Failed { first, count, error } => heads.push(PartHead::Failed {
                first,
                count,
                error: WireError::from(&error),
            }),
        }
    }
    (heads, body)
}

/// A worker's result records as the broker can carry them: every record
/// inline, with no descriptors. A body the worker put out of line (a large
/// result, in a sealed memfd) is read back; a result that holds shared
/// memory cannot cross machines and becomes a `Codec` record.
pub(crate) fn inline_records(bytes: &[u8], mut fds: FrameFds, limit: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    for record in Records::new(bytes) {
        // The supervisor checked the records; a bad one ends the run.
        let Ok(record) = record else {
            break;
        };
        let (taken, lost) = match fds.take(record.item.fds()) {
            Ok(taken) => (taken, None),
            Err(lost) => (Vec::new(), Some(lost.message(&record.item, 0, Receiver::Node))),
        };
        let mut item_fds = taken.into_iter();
        let out_of_line = record.item.out_of_line();
        // A reused lane comes with its board: whatever happens to the
        // record, the worker gets its lane back once the body is read.
        let (body_fd, board) = match out_of_line {
            Some(body) => (
                item_fds.next().flatten(),
                if body.board { item_fds.next().flatten() } else { None },
            ),
            None => (None, None),
        };
        let body: Result<Vec<u8>, String> = if let Some(lost) = lost {
            Err(lost)
        } else {
            match (out_of_line, record.item.shared_fds) {
                (None, 0) => Ok(record.item.inline.to_vec()),
                (_, 1..) => Err(
                    "the result holds shared memory (SharedBytes or SharedSlice), which does not cross machines".into(),
                ),
                (Some(body), 0) if body.len > limit as u64 => Err(format!(
                    "the result is {} bytes, over the node's message size limit of {limit} bytes",
                    body.len
                )),
                (Some(body), 0) => match body_fd {
                    None => Err("the result's body is missing".into()),
                    Some(fd) => Sealed::check_holding(fd, body.len)
                        .map_err(|refusal| refusal.to_string())
                        .and_then(|sealed| sealed.view(true).map_err(|e| e.to_string()))
                        .map(|view| view.bytes().to_vec()),
                },
            }
        };
        if let Some(board) = board {
            crate::shm::lanes::say_done(&board);
        }
        let (tag, body) = match body {
            Ok(body) => (record.tag, body),
            Err(message) => (Tag::Codec, format!("cannot send the result: {message}").into_bytes()),
        };
        out.push(tag as u8);
        let _ = push_item(&mut out, |o| {
            o.extend_from_slice(&body);
            Ok::<(), ()>(())
        });
    }
    out
}

/// A result entry's parts and body as slot parts for a task of `items`
/// items, checked: the parts must tile `0..items` exactly, and each run of
/// records must hold exactly its count of well-formed records.
pub(crate) fn parts_from_wire(
    heads: Vec<PartHead>,
    body: &[u8],
    items: u32,
    limit: usize,
) -> Result<Vec<Part>, String> {
    let mut parts = Vec::with_capacity(heads.len());
    let mut spans = Vec::with_capacity(heads.len());
    let mut at = 0usize;
    for head in heads {
        match head {
            PartHead::Records {
                first,
                count,
                len,
                elapsed_ns,
            } => {
                let len = len as usize;
                let bytes = body
                    .get(at..at.saturating_add(len))
                    .ok_or("a result's records are cut short")?;
                at += len;
                let mut seen = 0u32;
                for record in Records::new(bytes) {
                    let record = record.map_err(|e| format!("malformed result records: {e}"))?;
                    if record.item.fds() > 0 {
                        return Err("a result record refers to descriptors".into());
                    }
                    seen += 1;
                }
                if seen != count {
                    return Err(format!("a result part says {count} records but holds {seen}"));
                }
                spans.push((first, count));
                parts.push(Part::Records {
                    first,
                    count,
                    bytes: bytes.to_vec(),
                    fds: FrameFds::none(),
                    limit,
                    elapsed_ns,
                });
            }
            PartHead::Failed { first, count, error } => {
                spans.push((first, count));
                parts.push(Part::Failed {
                    first,
                    count,
                    error: error.into(),
                });
            }
        }
    }
    if at != body.len() {
        return Err("a result has bytes after its last part".into());
    }
    spans.sort_unstable();
    let mut next = 0u32;
    for (first, count) in spans {
        if first != next || count == 0 {
            return Err(format!(
                "a result's parts do not cover the task's {items} items exactly"
            ));
        }
        next = first.checked_add(count).ok_or("a result part overflows")?;
    }
    if next != items {
        return Err(format!("a result covers {next} items of {items}"));
    }
    Ok(parts)
}

/// Splits the parts of a result covering `counts.iter().sum()` items (as
/// checked by [`parts_from_wire`]) into the parts of consecutive tasks of
/// `counts` items each, renumbered from 0 in each.
pub(crate) fn split_parts(mut parts: Vec<Part>, counts: &[u32]) -> Result<Vec<Vec<Part>>, String> {
    parts.sort_by_key(Part::first);
    let mut out = Vec::with_capacity(counts.len());
    let mut parts = parts.into_iter();
    let mut current = parts.next();
    let mut lo = 0u32;
    for &count in counts {
        let hi = lo + count;
        let mut mine = Vec::new();
        while let Some(part) = current.take() {
            let (first, end) = (part.first(), part.first() + part.count());
            if end <= hi {
                mine.push(rebase(part, first - lo));
                current = parts.next();
                continue;
            }
            // The part runs past this task: split it at `hi`.
            let (head, tail) = split_part(part, hi - first)?;
            mine.push(rebase(head, first - lo));
            current = Some(tail);
            break;
        }
        out.push(mine);
        lo = hi;
    }
    Ok(out)
}

/// The same part, its first item numbered `first`.
pub(crate) fn rebase(part: Part, first: u32) -> Part {
    match part {
        Part::Records {
            count,
            bytes,
            fds,
            limit,
            elapsed_ns,
            ..
        } => Part::Records {
            first,
            count,
            bytes,
            fds,
            limit,
            elapsed_ns,
        },
        Part::Failed { count, error, .. } => Part::Failed { first, count, error },
    }
}

/// Splits a part after its first `k` items (0 < k < count).
fn split_part(part: Part, k: u32) -> Result<(Part, Part), String> {
    match part {
        Part::Failed { first, count, error } => Ok((
            Part::Failed {
                first,
                count: k,
                error: error.clone(),
            },
            Part::Failed {
                first: first + k,
                count: count - k,
                error,
            },
        )),
        Part::Records {
            first,
            count,
            mut bytes,
            limit,
            elapsed_ns,
            ..
        } => {
            // Records from the broker are inline: `tag u8 | head u32 | bytes`.
            let mut at = 0usize;
            for record in Records::new(&bytes).take(k as usize) {
                let record = record.map_err(|e| format!("malformed result records: {e}"))?;
                at += 5 + record.item.inline.len();
            }
            let rest = bytes.split_off(at);
            let share = elapsed_ns / u64::from(count.max(1));
            Ok((
                Part::Records {
                    first,
                    count: k,
                    bytes,
                    fds: FrameFds::none(),
                    limit,
                    elapsed_ns: share * u64::from(k),
                },
                Part::Records {
                    first: first + k,
                    count: count - k,
                    bytes: rest,
                    fds: FrameFds::none(),
                    limit,
                    elapsed_ns: share * u64::from(count - k),
                },
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::wire::{ResultHead, decode, encode, encode_inline};
    use crate::error::TaskError;

    fn records(values: &[u32]) -> Vec<u8> {
        let mut out = Vec::new();
        for v in values {
            out.push(Tag::Ok as u8);
            encode_inline(&mut out, v, 1 << 20).unwrap();
        }
        out
    }

    #[test]
    fn parts_round_trip_through_the_wire() {
        let parts = vec![
            Part::Records {
                first: 0,
                count: 2,
                bytes: records(&[1, 2]),
                fds: FrameFds::none(),
                limit: 1 << 20,
                elapsed_ns: 10,
            },
            Part::Failed {
                first: 2,
                count: 1,
                error: TaskError::Crashed {
                    signal: Some(11),
                    exit_code: None,
                },
            },
            Part::Records {
                first: 3,
                count: 1,
                bytes: records(&[4]),
                fds: FrameFds::none(),
                limit: 1 << 20,
                elapsed_ns: 5,
            },
        ];
        let (heads, body) = parts_to_wire(parts);
        let head = decode::<ResultHead>(
            &encode(&ResultHead::Ran {
                node: "n".into(),
                parts: heads.clone(),
            }),
            "result",
        )
        .unwrap();
        let ResultHead::Ran { parts: heads2, .. } = head else {
            panic!("{head:?}")
        };
        assert_eq!(heads, heads2);
        let back = parts_from_wire(heads2, &body, 4, 1 << 20).unwrap();
        assert_eq!(back.len(), 3);
        let slot = crate::slot::Slot::new(4, crate::slot::Label::task(1));
        for part in back {
            slot.add(part);
        }
        let got: Vec<_> = slot.take().unwrap().into_results::<u32>().collect();
        assert_eq!(
            got,
            vec![
                Ok(1),
                Ok(2),
                Err(TaskError::Crashed {
                    signal: Some(11),
                    exit_code: None
                }),
                Ok(4)
            ]
        );
    }

    #[test]
    fn results_that_do_not_tile_the_items_are_refused() {
        let body = records(&[7]);
        let len = body.len() as u32;
        let one = || PartHead::Records {
            first: 0,
            count: 1,
            len,
            elapsed_ns: 0,
        };
        assert!(parts_from_wire(vec![one()], &body, 1, 1 << 20).is_ok());
        // Too few items, too many, overlapping, gaps, lies about counts.
        assert!(parts_from_wire(vec![one()], &body, 2, 1 << 20).is_err());
        assert!(parts_from_wire(vec![one(), one()], &[body.clone(), body.clone()].concat(), 2, 1 << 20).is_err());
        let gap = PartHead::Failed {
            first: 2,
            count: 1,
            error: WireError::Cancelled,
        };
        assert!(parts_from_wire(vec![one(), gap], &body, 3, 1 << 20).is_err());
        let liar = PartHead::Records {
            first: 0,
            count: 2,
            len,
            elapsed_ns: 0,
        };
        assert!(parts_from_wire(vec![liar], &body, 2, 1 << 20).is_err());
        // Cut and trailing bytes.
        assert!(parts_from_wire(vec![one()], &body[..5], 1, 1 << 20).is_err());
        assert!(parts_from_wire(vec![one()], &[body.as_slice(), &[0]].concat(), 1, 1 << 20).is_err());
        let empty = PartHead::Failed {
            first: 0,
            count: 0,
            error: WireError::Cancelled,
        };
        assert!(parts_from_wire(vec![empty], &[], 0, 1 << 20).is_err());
    }

    #[test]
    fn results_split_into_the_tasks_that_were_sent_together() {
        let parts = vec![
            Part::Records {
                first: 0,
                count: 3,
                bytes: records(&[10, 11, 12]),
                fds: FrameFds::none(),
                limit: 1 << 20,
                elapsed_ns: 30,
            },
            Part::Failed {
                first: 3,
                count: 2,
                error: TaskError::Cancelled,
            },
        ];
        let split = split_parts(parts, &[1, 1, 2, 1]).unwrap();
        let decode = |parts: Vec<Part>, n: u32| {
            let slot = crate::slot::Slot::new(n, crate::slot::Label::task(1));
            for p in parts {
                slot.add(p);
            }
            slot.take().unwrap().into_results::<u32>().collect::<Vec<_>>()
        };
        let mut split = split.into_iter();
        assert_eq!(decode(split.next().unwrap(), 1), vec![Ok(10)]);
        assert_eq!(decode(split.next().unwrap(), 1), vec![Ok(11)]);
        assert_eq!(
            decode(split.next().unwrap(), 2),
            vec![Ok(12), Err(TaskError::Cancelled)]
        );
        assert_eq!(decode(split.next().unwrap(), 1), vec![Err(TaskError::Cancelled)]);
    }
}
