//! An in-place heapsort that needs a few words of stack, whatever the input's order.
//!
//! `slice::sort_unstable` recurses, and on aarch64 each level reserves its small-sort scratch
//! (almost 1 KiB per level for an [`IndexEntry`](crate::IndexEntry)); with up to 16 levels for
//! a few hundred constituents, in an order the sender chooses, that is more than an SPMC's
//! per-CPU stack (8 KiB on QEMU). Heapsort is O(n log n) with no recursion.

/// Sorts `items` by `key`, in place (not stable), with constant stack use.
pub(crate) fn sort_by_key<T, K: Ord>(items: &mut [T], key: impl Fn(&T) -> K) {
    let length = items.len();
    // A max-heap: sift every parent down, the last one first.
    for start in (0..length / 2).rev() {
        sift_down(items, start, length, &key);
    }
    // Move the largest to the end and restore the heap on what is left.
    for end in (1..length).rev() {
        items.swap(0, end);
        sift_down(items, 0, end, &key);
    }
}

/// Moves `items[root]` down the heap `items[..end]` to where its children are not larger.
fn sift_down<T, K: Ord>(items: &mut [T], mut root: usize, end: usize, key: &impl Fn(&T) -> K) {
    loop {
        // No overflow: `root < end <= items.len() <= isize::MAX`.
        let left = 2 * root + 1;
        if left >= end {
            return;
        }
        let right = left + 1;
        let larger = if right < end && greater(items, right, left, key) { right } else { left };
        if !greater(items, larger, root, key) {
            return;
        }
        items.swap(root, larger);
        root = larger;
    }
}

/// Whether `items[first]`'s key is greater than `items[second]`'s (false if either is missing).
fn greater<T, K: Ord>(items: &[T], first: usize, second: usize, key: &impl Fn(&T) -> K) -> bool {
    match (items.get(first), items.get(second)) {
        (Some(first), Some(second)) => key(first) > key(second),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use std::vec::Vec;

    use super::*;
    use proptest::prelude::*;

    #[test]
    fn sorts_short_reversed_and_repeated_inputs() {
        let mut empty: [u64; 0] = [];
        sort_by_key(&mut empty, |value| *value);
        let mut one = [7u64];
        sort_by_key(&mut one, |value| *value);
        assert_eq!(one, [7]);
        let mut reversed: Vec<u64> = (0..300).rev().collect();
        sort_by_key(&mut reversed, |value| *value);
        assert_eq!(reversed, (0..300).collect::<Vec<_>>());
        let mut repeated = [3u64, 1, 3, 1, 2, 2];
        sort_by_key(&mut repeated, |value| *value);
        assert_eq!(repeated, [1, 1, 2, 2, 3, 3]);
    }

    proptest! {
        #[test]
        fn orders_by_key_like_the_standard_sort(
            mut items in proptest::collection::vec((0u64..64, any::<u32>()), 0..400)
        ) {
            let mut expected = items.clone();
            expected.sort_by_key(|item| item.0);
            sort_by_key(&mut items, |item| item.0);
            let keys: Vec<u64> = items.iter().map(|item| item.0).collect();
            let expected_keys: Vec<u64> = expected.iter().map(|item| item.0).collect();
            prop_assert_eq!(keys, expected_keys);
            // The same items, only moved.
            items.sort();
            expected.sort();
            prop_assert_eq!(items, expected);
        }
    }
}
