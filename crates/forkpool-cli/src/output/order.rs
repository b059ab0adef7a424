//! `-k`: output released strictly in sequence-number order, as GNU
//! parallel releases it, whatever order jobs start and end in.
//!
//! Jobs do not always start in input order: one waits for a host of its
//! `--hostgroups` while later ones start elsewhere; a retried job runs
//! again after later ones; a job held back by `--memfree` or a host that
//! failed under it goes back on the queue. So the turn does not follow
//! the starts: a job's output is held until every job with a lower
//! sequence number has printed, or is known never to.
//!
//! A job is *expected* from the moment the run takes it from the input (the
//! input is read in sequence order, so no lower number can come later:
//! with `--shuf` the numbers are given after the shuffle, as GNU gives
//! them). From then on it blocks those after it until it prints, or the
//! run says it never will: `--joblog --resume` skipped it, its command
//! line was too long, the run stopped before it started (`--halt`, a
//! signal, a fatal error), `--halt now` killed it, or it is a
//! `--round-robin` job the input never reached. Numbers never taken from
//! the input (past its end) are never expected, so they block nothing.
//! And at the very end whatever is still held is printed, in order: no
//! output is held forever.
//!
//! Output waiting its turn is held in the printer's store: in memory up to
//! a budget, then in an unnamed temporary file (see `store`).

use std::collections::BTreeSet;

/// The jobs whose output `-k` is waiting for, in sequence order.
#[derive(Debug, Default)]
pub(super) struct Order {
    /// Expected jobs not yet printed nor known never to print.
    pending: BTreeSet<u64>,
}

impl Order {
    /// Job `seq` will print (or be forgotten): every later job waits for
    /// it.
    pub(super) fn expect(&mut self, seq: u64) {
        self.pending.insert(seq);
    }

    /// The job whose turn it is.
    pub(super) fn front(&self) -> Option<u64> {
        self.pending.first().copied()
    }

    /// Job `seq`'s turn is over (it printed, or it never will); whether it
    /// was expected.
    pub(super) fn remove(&mut self, seq: u64) -> bool {
        self.pending.remove(&seq)
    }

    /// Forgets every expected job, returning them in order.
    pub(super) fn take_all(&mut self) -> Vec<u64> {
        std::mem::take(&mut self.pending).into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::Order;

    #[test]
    fn the_turn_is_the_lowest_number_expected_whatever_the_order_of_expecting() {
        let mut order = Order::default();
        for seq in [3, 1, 2] {
            order.expect(seq);
        }
        assert_eq!(order.front(), Some(1));
        assert!(order.remove(2));
        assert_eq!(order.front(), Some(1), "a later job's end does not move the turn");
        assert!(order.remove(1));
        assert_eq!(order.front(), Some(3));
        assert!(!order.remove(7), "never expected");
        order.expect(5);
        assert_eq!(order.take_all(), vec![3, 5]);
        assert_eq!(order.front(), None);
    }
}
