//! Fixed-window counters in memory, sharded by key so concurrent requests rarely wait on
//! the same lock. A window starts with a key's first counted request and lasts
//! `window` seconds; then the count starts again from zero.

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::{Mutex, MutexGuard};

use super::Rule;

const SHARDS: usize = 16;

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

type Shard = HashMap<CounterKey, Window>;

#[derive(Debug)]
pub(super) struct WindowCounters {
    window: i64,
    shard_capacity: usize,
    hasher: RandomState,
    shards: [Mutex<Shard>; SHARDS],
}

impl WindowCounters {
    pub(super) fn new(window: i64, max_keys: usize) -> WindowCounters {
        WindowCounters {
            window: window.max(1),
            shard_capacity: (max_keys / SHARDS).max(1),
            hasher: RandomState::new(),
            shards: std::array::from_fn(|_| Mutex::new(HashMap::new())),
        }
    }

    pub(super) fn len(&self) -> usize {
        self.shards.iter().map(|shard| lock_shard(shard).len()).sum()
    }

    fn lock(&self, key: &CounterKey) -> MutexGuard<'_, Shard> {
        let index = (self.hasher.hash_one(key) % SHARDS as u64) as usize;
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

    /// Adds one to `key`'s window (starting a new one when it expired) and returns it.
    fn count_one(&self, shard: &mut Shard, key: CounterKey, now: i64) -> Window {
        if !shard.contains_key(&key) {
            self.make_room(shard, now);
        }
        let fresh = Window {
            started: now,
            count: 0,
            refusal_reported: false,
        };
        let window = shard.entry(key).or_insert(fresh);
        if self.expired(window, now) {
            *window = fresh;
        }
        window.count = window.count.saturating_add(1);
        *window
    }

    /// Before a new key goes in: drop expired windows, and if the shard is still full,
    /// the one that started first.
    fn make_room(&self, shard: &mut Shard, now: i64) {
        if shard.len() < self.shard_capacity {
            return;
        }
        shard.retain(|_, window| !self.expired(window, now));
        while shard.len() >= self.shard_capacity {
            let oldest = shard
                .iter()
                .min_by_key(|(_, window)| window.started)
                .map(|(key, _)| key.clone());
            match oldest {
                Some(key) => {
                    shard.remove(&key);
                }
                None => break,
            }
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
