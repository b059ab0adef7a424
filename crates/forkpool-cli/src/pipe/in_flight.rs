//! Lines in flight to perl: the read whose keys (or jobs) perl is
//! computing while the next read comes in, for `--group-by` (`group_by`)
//! and `--shard`/`--bin` (`shard`) with an expression.
//!
//! Why pipelined: with a cheap expression perl's time is most of a run.
//! Asked and answered in one round trip, each read would keep us waiting
//! on perl and perl idle while we read, mark or deal: the two would take
//! turns. Instead each read's lines are sent without waiting
//! ([`Keyer::keys_ahead`], [`Keyer::shards_ahead`]), and the answer taken
//! is that of the read sent before: perl computes one read's keys while
//! the caller reads the next and uses the previous one's answer, so
//! reading, cutting (or dealing) and keying overlap. One read stays in
//! flight, no more: memory holds one more read, and the order of the
//! lines is kept, since answers come back in the order they were asked.
//!
//! [`Keyer::keys_ahead`]: super::key::Keyer::keys_ahead
//! [`Keyer::shards_ahead`]: super::key::Keyer::shards_ahead

/// The whole lines sent to perl whose answer has not been taken yet.
#[derive(Debug, Default)]
pub(crate) struct InFlight {
    lines: Vec<u8>,
}

impl InFlight {
    /// Whether no lines are waiting for their answer.
    pub(crate) fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// Sends `lines` (whole lines, as bytes) with `ask`, which sends them
    /// and returns the answer to the lines sent before, if any; `take`
    /// gets those lines and their answer. `lines` are in flight next.
    pub(crate) fn send<A, E>(
        &mut self,
        lines: &[u8],
        ask: impl FnOnce(&[&[u8]]) -> Result<Option<A>, E>,
        take: impl FnOnce(&[u8], A),
    ) -> Result<(), E> {
        let split: Vec<&[u8]> = lines.split_inclusive(|&b| b == b'\n').collect();
        if let Some(answer) = ask(&split)? {
            take(&self.lines, answer);
        }
        self.lines.clear();
        self.lines.extend_from_slice(lines);
        Ok(())
    }

    /// Lands the lines in flight, if any: `ask` (called with no lines)
    /// waits for their answer, and `take` gets them with it.
    pub(crate) fn land<A, E>(
        &mut self,
        ask: impl FnOnce(&[&[u8]]) -> Result<Option<A>, E>,
        take: impl FnOnce(&[u8], A),
    ) -> Result<(), E> {
        if self.lines.is_empty() {
            return Ok(());
        }
        if let Some(answer) = ask(&[])? {
            take(&self.lines, answer);
        }
        self.lines.clear();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An `ask` that answers each line with its length, a call late, as
    /// perl's pipelined requests do.
    #[derive(Default)]
    struct Late {
        ahead: Option<Vec<usize>>,
        asked: usize,
    }

    impl Late {
        fn ask(&mut self, lines: &[&[u8]]) -> Result<Option<Vec<usize>>, ()> {
            self.asked += 1;
            let before = self.ahead.take();
            if !lines.is_empty() {
                self.ahead = Some(lines.iter().map(|l| l.len()).collect());
            }
            Ok(before)
        }
    }

    #[test]
    fn each_read_is_answered_when_the_next_is_sent_or_at_the_landing() {
        let mut perl = Late::default();
        let mut flight = InFlight::default();
        let mut taken: Vec<(Vec<u8>, Vec<usize>)> = Vec::new();
        let mut take = |lines: &[u8], lens: Vec<usize>| taken.push((lines.to_vec(), lens));
        flight.send(b"a\nbb\n", |l| perl.ask(l), &mut take).unwrap();
        assert!(!flight.is_empty());
        flight.send(b"ccc\n", |l| perl.ask(l), &mut take).unwrap();
        flight.land(|l| perl.ask(l), &mut take).unwrap();
        assert!(flight.is_empty());
        // Nothing in flight: perl is not asked.
        flight.land(|l| perl.ask(l).map(|_| None), &mut take).unwrap();
        assert_eq!(perl.asked, 3);
        assert_eq!(taken, [(b"a\nbb\n".to_vec(), vec![2, 3]), (b"ccc\n".to_vec(), vec![4])]);
    }
}
