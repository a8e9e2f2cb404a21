//! Fair sharing of one tenant's paced budget between the runs of this
//! process.
//!
//! The pacing state ([`super::pace`]) says *when* the next send may go.
//! Without this module, sends take their slots in arrival order. A report
//! then gets most of the slots: its `invoke-many` keeps sixteen calls
//! waiting. An urgent write that arrives behind them waits for all sixteen.
//!
//! While sends are waiting, this module decides *whose* send takes the next
//! slot. It uses start-time fair queuing (Goyal, Vin and Cheng, SIGCOMM
//! 1996):
//! - Each waiting send gets a start tag: the later of the virtual time and
//!   its run's last finish tag.
//! - The send with the smallest tag goes next.
//! - A run's finish tag then moves on by 1 ÷ its weight.
//!
//! So runs that keep sends waiting share the slots in proportion to their
//! weights. A run that sends now and then, such as a small write plugin,
//! finds its finish tag behind the virtual time. Its send then goes next,
//! after at most one send of each other run.
//!
//! The weight comes from the operator policy (`[limits] weight`), and the
//! run's identity travels as a task-local ([`exorun_cmdlet::run_share`]).
//! Fairness holds within one process. Processes that share the pacing file
//! only pace together, in arrival order.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};

use exorun_cmdlet::RunShare;
use tokio::sync::oneshot;

/// Finish tags are forgotten once this many runs are known, except those
/// still ahead of the virtual time: a run behind it behaves as a new one.
const FORGET_AFTER: usize = 256;

/// The sends waiting for a pacing slot, in fair order.
#[derive(Default)]
pub(crate) struct FairQueue {
    /// The start tag of the send most recently let through.
    virtual_time: f64,
    /// Each run's finish tag.
    finish: HashMap<u64, f64>,
    waiting: BinaryHeap<Waiter>,
    next_seq: u64,
    /// A task is handing out slots ([`super::TenantLimiter`]'s dispatcher).
    pub dispatching: bool,
    /// Sends taking their slot directly (nobody was waiting) and sleeping
    /// until it comes: while there are any, later sends queue here.
    pub sleeping: usize,
}

struct Waiter {
    tag: f64,
    seq: u64,
    wake: oneshot::Sender<()>,
}

impl PartialEq for Waiter {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Waiter {}

impl PartialOrd for Waiter {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Waiter {
    /// Reversed, so that the heap's greatest is the smallest tag (then
    /// the earliest arrival).
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .tag
            .total_cmp(&self.tag)
            .then_with(|| other.seq.cmp(&self.seq))
    }
}

impl FairQueue {
    /// Nobody waits and nobody sleeps on a slot: a send may take the next
    /// slot itself.
    pub fn is_idle(&self) -> bool {
        self.waiting.is_empty() && !self.dispatching && self.sleeping == 0
    }

    /// Queues a send of `share`'s run; the receiver hears when it may go.
    pub fn push(&mut self, share: RunShare) -> oneshot::Receiver<()> {
        let weight = f64::from(share.weight.max(1));
        let last = self.finish.get(&share.id).copied().unwrap_or(0.0);
        let start = last.max(self.virtual_time);
        self.finish.insert(share.id, start + 1.0 / weight);
        self.next_seq += 1;
        let (wake, heard) = oneshot::channel();
        self.waiting.push(Waiter {
            tag: start,
            seq: self.next_seq,
            wake,
        });
        heard
    }

    /// The next send to let through, skipping those whose caller went
    /// away (a run that ended while its call waited).
    pub fn pop(&mut self) -> Option<oneshot::Sender<()>> {
        while let Some(waiter) = self.waiting.pop() {
            self.virtual_time = self.virtual_time.max(waiter.tag);
            if waiter.wake.is_closed() {
                continue;
            }
            if self.waiting.is_empty() {
                // Nobody is left to be fair to: start afresh, so the
                // tags of runs long gone are not kept.
                self.finish.clear();
                self.virtual_time = 0.0;
            } else if self.finish.len() > FORGET_AFTER {
                let now = self.virtual_time;
                self.finish.retain(|_, finish| *finish > now);
            }
            return Some(waiter.wake);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn share(id: u64, weight: u32) -> RunShare {
        RunShare { id, weight }
    }

    /// Pops every waiter and says which run each was, by the order the
    /// receivers were pushed in `runs`.
    fn order(queue: &mut FairQueue, runs: &[u64]) -> Vec<u64> {
        let mut receivers: Vec<(u64, oneshot::Receiver<()>)> = runs
            .iter()
            .map(|r| (*r, queue.push(share(*r, 1))))
            .collect();
        let mut out = Vec::new();
        while let Some(wake) = queue.pop() {
            wake.send(()).unwrap();
            let at = receivers
                .iter_mut()
                .position(|(_, rx)| rx.try_recv().is_ok())
                .unwrap();
            out.push(receivers.remove(at).0);
        }
        out
    }

    #[test]
    fn a_late_send_of_a_quiet_run_goes_before_a_busy_runs_backlog() {
        let mut queue = FairQueue::default();
        // The report queued eight sends; then the write plugin queues one.
        let mut runs = vec![1; 8];
        runs.push(2);
        let order = order(&mut queue, &runs);
        assert_eq!(order, [1, 2, 1, 1, 1, 1, 1, 1, 1]);
    }

    #[test]
    fn backlogged_runs_share_slots_by_weight() {
        let mut queue = FairQueue::default();
        let mut heard = Vec::new();
        for _ in 0..30 {
            heard.push((1, queue.push(share(1, 1))));
            heard.push((2, queue.push(share(2, 2))));
        }
        // The first 30 slots: run 2 (weight 2) gets twice run 1's.
        let mut counts = [0, 0];
        for _ in 0..30 {
            let wake = queue.pop().unwrap();
            wake.send(()).unwrap();
            let at = heard
                .iter_mut()
                .position(|(_, rx)| rx.try_recv().is_ok())
                .unwrap();
            counts[heard.remove(at).0 - 1] += 1;
        }
        assert_eq!(counts, [10, 20]);
    }

    #[test]
    fn a_send_whose_caller_went_away_is_skipped() {
        let mut queue = FairQueue::default();
        let gone = queue.push(share(1, 1));
        let mut kept = queue.push(share(2, 1));
        drop(gone);
        queue.pop().unwrap().send(()).unwrap();
        assert!(kept.try_recv().is_ok());
        assert!(queue.pop().is_none());
    }

    #[test]
    fn runs_are_forgotten_once_nobody_waits() {
        let mut queue = FairQueue::default();
        let heard: Vec<_> = (0..300).map(|id| queue.push(share(id, 1))).collect();
        assert_eq!(queue.finish.len(), 300);
        while queue.pop().is_some() {}
        assert!(queue.finish.is_empty());
        assert_eq!(queue.virtual_time, 0.0);
        drop(heard);
    }

    #[test]
    fn runs_left_behind_by_a_backlog_are_forgotten() {
        let mut queue = FairQueue::default();
        // A busy run keeps a backlog, so the virtual time moves on, while
        // a thousand one-call runs come and go.
        let mut busy = vec![queue.push(share(0, 1)), queue.push(share(0, 1))];
        let mut heard = Vec::new();
        for id in 1..1000 {
            heard.push(queue.push(share(id, 1)));
            busy.push(queue.push(share(0, 1)));
            queue.pop().unwrap();
            queue.pop().unwrap();
        }
        assert!(
            queue.finish.len() <= FORGET_AFTER + 2,
            "{} runs remembered",
            queue.finish.len()
        );
    }
}
