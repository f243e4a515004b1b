//! Fixed-window counters in memory, sharded by key so concurrent requests rarely wait on
//! the same lock. A window starts with a key's first counted request and lasts
//! `window` seconds; then the count starts again from zero.
//!
//! Memory is bounded and every operation is O(1): each shard keeps its counters in the
//! order their windows started (a linked hash map: a window that starts again moves to
//! the back), so when a shard is full the counter at the front, the one whose window
//! started first (and so the first to expire), gives way at once. No scan, ever.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::{Mutex, MutexGuard};

use hashlink::LinkedHashMap;

use super::Rule;

const SHARDS: usize = 16;

/// Expired counters dropped from a shard's front on each new key, besides the one that
/// makes room: enough to keep stale counters from lingering, few enough to stay O(1).
const EXPIRED_SWEEP: usize = 4;

/// Where a key stands in its window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    /// Requests allowed per window.
    pub limit: u32,
    /// Requests left in the current window.
    pub remaining: u32,
    /// Seconds until the window ends (at least 1).
    pub reset_after: i64,
}

impl Quota {
    /// The quota closest to refusing: the fewest requests left, then the lower limit,
    /// then the later reset.
    pub fn tighter(self, other: Quota) -> Quota {
        let key = |q: &Quota| (q.remaining, q.limit, -q.reset_after);
        if key(&other) < key(&self) {
            other
        } else {
            self
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Admitted(Quota),
    /// The window is used up. `first_in_window` is true for the first refusal of the
    /// window, so a flood is audited once, not once per request.
    Refused {
        quota: Quota,
        first_in_window: bool,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct CounterKey {
    rule: Rule,
    key: Box<str>,
}

#[derive(Debug, Clone, Copy)]
struct Window {
    started: i64,
    count: u32,
    refusal_reported: bool,
}

/// Counters in the order their windows started (front: the earliest). SipHash with a
/// random key, as the keys come from clients.
type Shard = LinkedHashMap<CounterKey, Window, RandomState>;

#[derive(Debug)]
pub(super) struct WindowCounters {
    window: i64,
    shard_capacity: usize,
    hasher: RandomState,
    shards: Box<[Mutex<Shard>]>,
}

impl WindowCounters {
    pub(super) fn new(window: i64, max_keys: usize) -> WindowCounters {
        WindowCounters::with_shards(window, max_keys, SHARDS)
    }

    /// At most `max_keys` counters over `shards` shards (each holds `max_keys / shards`).
    fn with_shards(window: i64, max_keys: usize, shards: usize) -> WindowCounters {
        let shards = shards.max(1);
        WindowCounters {
            window: window.max(1),
            shard_capacity: (max_keys / shards).max(1),
            hasher: RandomState::new(),
            shards: (0..shards)
                .map(|_| Mutex::new(LinkedHashMap::with_hasher(RandomState::new())))
                .collect(),
        }
    }

    pub(super) fn len(&self) -> usize {
        self.shards.iter().map(|shard| lock_shard(shard).len()).sum()
    }

    fn lock(&self, key: &CounterKey) -> MutexGuard<'_, Shard> {
        let index = (self.hasher.hash_one(key) % self.shards.len() as u64) as usize;
        // Reduced modulo the number of shards, so always in range.
        lock_shard(&self.shards[index])
    }

    fn expired(&self, window: &Window, now: i64) -> bool {
        // A clock set back also starts a new window rather than stretching this one.
        now >= window.started + self.window || now < window.started
    }

    fn quota(&self, window: Option<&Window>, limit: u32, now: i64) -> Quota {
        match window {
            Some(window) if !self.expired(window, now) => Quota {
                limit,
                remaining: limit.saturating_sub(window.count),
                reset_after: (window.started + self.window - now).clamp(1, self.window),
            },
            _ => Quota {
                limit,
                remaining: limit,
                reset_after: self.window,
            },
        }
    }

    pub(super) fn peek(&self, rule: Rule, key: &str, limit: u32, now: i64) -> Quota {
        let key = counter_key(rule, key);
        let shard = self.lock(&key);
        self.quota(shard.get(&key), limit, now)
    }

    pub(super) fn check(&self, rule: Rule, key: &str, limit: u32, now: i64) -> Admission {
        let key = counter_key(rule, key);
        let mut shard = self.lock(&key);
        let quota = self.quota(shard.get(&key), limit, now);
        if quota.remaining > 0 {
            return Admission::Admitted(quota);
        }
        let first_in_window = match shard.get_mut(&key) {
            Some(window) => !std::mem::replace(&mut window.refusal_reported, true),
            None => true,
        };
        Admission::Refused { quota, first_in_window }
    }

    pub(super) fn acquire(&self, rule: Rule, key: &str, limit: u32, now: i64) -> Admission {
        let key = counter_key(rule, key);
        let mut shard = self.lock(&key);
        let quota = self.quota(shard.get(&key), limit, now);
        if quota.remaining == 0 {
            let first_in_window = match shard.get_mut(&key) {
                Some(window) => !std::mem::replace(&mut window.refusal_reported, true),
                None => true,
            };
            return Admission::Refused { quota, first_in_window };
        }
        let window = self.count_one(&mut shard, key, now);
        Admission::Admitted(self.quota(Some(&window), limit, now))
    }

    pub(super) fn record(&self, rule: Rule, key: &str, limit: u32, now: i64) -> Quota {
        let key = counter_key(rule, key);
        let mut shard = self.lock(&key);
        let window = self.count_one(&mut shard, key, now);
        self.quota(Some(&window), limit, now)
    }

    /// Adds one to `key`'s window (starting a new one, at the back, when it expired) and
    /// returns it.
    fn count_one(&self, shard: &mut Shard, key: CounterKey, now: i64) -> Window {
        let fresh = Window {
            started: now,
            count: 1,
            refusal_reported: false,
        };
        match shard.get_mut(&key) {
            Some(window) if !self.expired(window, now) => {
                window.count = window.count.saturating_add(1);
                *window
            }
            Some(_) => {
                // `insert` on a present key replaces the value and moves it to the back.
                shard.insert(key, fresh);
                fresh
            }
            None => {
                self.make_room(shard, now);
                shard.insert(key, fresh);
                fresh
            }
        }
    }

    /// Before a new key goes in: drop a few expired counters from the front, and if the
    /// shard is still full, the counter whose window started first. O(1).
    fn make_room(&self, shard: &mut Shard, now: i64) {
        for _ in 0..EXPIRED_SWEEP {
            match shard.front() {
                Some((_, window)) if self.expired(window, now) => {
                    shard.pop_front();
                }
                _ => break,
            }
        }
        if shard.len() >= self.shard_capacity {
            shard.pop_front();
        }
    }
}

fn counter_key(rule: Rule, key: &str) -> CounterKey {
    CounterKey { rule, key: key.into() }
}

/// A panic while the lock was held cannot have left a counter half-written: recover.
fn lock_shard(shard: &Mutex<Shard>) -> MutexGuard<'_, Shard> {
    shard.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    const IP: &str = "192.0.2.7";

    fn admitted(admission: Admission) -> Quota {
        match admission {
            Admission::Admitted(quota) => quota,
            Admission::Refused { .. } => panic!("refused: {admission:?}"),
        }
    }

    #[test]
    fn remaining_counts_down_and_the_window_resets() {
        let counters = WindowCounters::new(60, 1000);
        let first = admitted(counters.acquire(Rule::TokenPerIp, IP, 3, 1000));
        assert_eq!((first.limit, first.remaining, first.reset_after), (3, 2, 60));
        let second = admitted(counters.acquire(Rule::TokenPerIp, IP, 3, 1010));
        assert_eq!((second.remaining, second.reset_after), (1, 50));
        admitted(counters.acquire(Rule::TokenPerIp, IP, 3, 1020));
        match counters.acquire(Rule::TokenPerIp, IP, 3, 1030) {
            Admission::Refused { quota, first_in_window } => {
                assert_eq!((quota.remaining, quota.reset_after), (0, 30));
                assert!(first_in_window);
            }
            other => panic!("admitted: {other:?}"),
        }
        match counters.acquire(Rule::TokenPerIp, IP, 3, 1059) {
            Admission::Refused { quota, first_in_window } => {
                assert_eq!(quota.reset_after, 1);
                assert!(!first_in_window, "a flood is reported once per window");
            }
            other => panic!("admitted: {other:?}"),
        }
        let after = admitted(counters.acquire(Rule::TokenPerIp, IP, 3, 1060));
        assert_eq!((after.remaining, after.reset_after), (2, 60));
    }

    #[test]
    fn peek_and_check_count_nothing() {
        let counters = WindowCounters::new(60, 1000);
        assert_eq!(counters.peek(Rule::LoginPerIp, IP, 2, 0).remaining, 2);
        admitted(counters.check(Rule::LoginPerIp, IP, 2, 0));
        assert_eq!(counters.len(), 0, "peeking must not create counters");
        counters.record(Rule::LoginPerIp, IP, 2, 0);
        counters.record(Rule::LoginPerIp, IP, 2, 0);
        let over = counters.record(Rule::LoginPerIp, IP, 2, 0);
        assert_eq!(over.remaining, 0, "recording past the limit saturates");
        assert!(matches!(
            counters.check(Rule::LoginPerIp, IP, 2, 1),
            Admission::Refused {
                first_in_window: true,
                ..
            }
        ));
        assert!(matches!(
            counters.check(Rule::LoginPerIp, IP, 2, 2),
            Admission::Refused {
                first_in_window: false,
                ..
            }
        ));
    }

    #[test]
    fn a_clock_set_back_starts_a_new_window() {
        let counters = WindowCounters::new(60, 1000);
        counters.record(Rule::LoginPerIp, IP, 1, 5000);
        assert_eq!(counters.peek(Rule::LoginPerIp, IP, 1, 5000).remaining, 0);
        assert_eq!(counters.peek(Rule::LoginPerIp, IP, 1, 100).remaining, 1);
    }

    #[test]
    fn memory_stays_bounded_and_expired_windows_go_first() {
        let counters = WindowCounters::new(60, 1000);
        for i in 0..5000 {
            counters.record(Rule::TokenPerIp, &format!("key-{i}"), 10, i / 100);
        }
        assert!(counters.len() <= 1000, "{} counters kept", counters.len());
        // The newest keys survive; the oldest gave way.
        assert_eq!(counters.peek(Rule::TokenPerIp, "key-4999", 10, 49).remaining, 9);
        assert_eq!(counters.peek(Rule::TokenPerIp, "key-0", 10, 49).remaining, 10);
    }

    #[test]
    fn a_flood_of_distinct_keys_never_exceeds_the_bound() {
        let counters = WindowCounters::new(60, 1000);
        for i in 0..50_000 {
            counters.record(Rule::LoginPerIp, &format!("flood-{i}"), 10, 7);
            if i % 997 == 0 {
                assert!(counters.len() <= 1000, "{} counters after {i} keys", counters.len());
            }
        }
        assert!(counters.len() <= 1000, "{} counters kept", counters.len());
        assert!(counters.len() >= 900, "the shards are used: {}", counters.len());
    }

    #[test]
    fn the_counter_whose_window_started_first_gives_way() {
        let counters = WindowCounters::with_shards(60, 3, 1);
        counters.record(Rule::TokenPerIp, "a", 10, 0);
        counters.record(Rule::TokenPerIp, "b", 10, 1);
        counters.record(Rule::TokenPerIp, "c", 10, 2);
        // Counting again does not make a counter younger: its window still started first.
        counters.record(Rule::TokenPerIp, "a", 10, 3);
        counters.record(Rule::TokenPerIp, "d", 10, 4);
        assert_eq!(counters.len(), 3);
        assert_eq!(counters.peek(Rule::TokenPerIp, "a", 10, 4).remaining, 10, "a gave way");
        assert_eq!(counters.peek(Rule::TokenPerIp, "b", 10, 4).remaining, 9);
        assert_eq!(counters.peek(Rule::TokenPerIp, "d", 10, 4).remaining, 9);
        // The same key under another rule is another counter.
        counters.record(Rule::UserinfoPerIp, "b", 10, 5);
        assert_eq!(
            counters.peek(Rule::TokenPerIp, "b", 10, 5).remaining,
            10,
            "b gave way next"
        );
        assert_eq!(counters.peek(Rule::TokenPerIp, "c", 10, 5).remaining, 9);
    }

    #[test]
    fn a_window_that_starts_again_moves_to_the_back() {
        let counters = WindowCounters::with_shards(10, 2, 1);
        counters.record(Rule::LoginPerIp, "a", 10, 0);
        counters.record(Rule::LoginPerIp, "b", 10, 5);
        // a's window ended at 10; counting it again at 12 starts a new one, after b's.
        counters.record(Rule::LoginPerIp, "a", 10, 12);
        counters.record(Rule::LoginPerIp, "c", 10, 13);
        assert_eq!(
            counters.peek(Rule::LoginPerIp, "a", 10, 13).remaining,
            9,
            "a is the youngest"
        );
        assert_eq!(counters.peek(Rule::LoginPerIp, "b", 10, 13).remaining, 10, "b gave way");
        assert_eq!(counters.len(), 2);
    }

    #[test]
    fn expired_counters_at_the_front_are_dropped_first() {
        let counters = WindowCounters::with_shards(10, 100, 1);
        for i in 0..50 {
            counters.record(Rule::LoginPerIp, &format!("old-{i}"), 10, 0);
        }
        // Long after: each new key sweeps a few expired counters off the front.
        for i in 0..10 {
            counters.record(Rule::LoginPerIp, &format!("new-{i}"), 10, 100);
        }
        assert_eq!(counters.len(), 50 - 10 * EXPIRED_SWEEP + 10);
    }

    #[test]
    fn the_tighter_quota_has_fewer_requests_left() {
        let ip = Quota {
            limit: 600,
            remaining: 5,
            reset_after: 10,
        };
        let client = Quota {
            limit: 1200,
            remaining: 700,
            reset_after: 50,
        };
        assert_eq!(ip.tighter(client), ip);
        assert_eq!(client.tighter(ip), ip);
    }
}
