//! A least-recently-used order kept as a doubly linked list inside a slab: pushing, touching
//! and removing an entry are O(1), and once the slab has grown to its cap no access allocates.

/// The index that links to nothing.
const NIL: usize = usize::MAX;

#[derive(Debug)]
struct Node<K, V> {
    /// `None` while the node is free.
    entry: Option<(K, V)>,
    /// The next older entry.
    older: usize,
    /// The next newer entry.
    newer: usize,
}

#[derive(Debug)]
pub(crate) struct Lru<K, V> {
    nodes: Vec<Node<K, V>>,
    /// Indices of empty nodes, reused before the slab grows.
    free: Vec<usize>,
    oldest: usize,
    newest: usize,
}

impl<K, V> Lru<K, V> {
    pub(crate) fn new() -> Self {
        Lru { nodes: Vec::new(), free: Vec::new(), oldest: NIL, newest: NIL }
    }

    /// Adds an entry as the newest; returns its index, stable until it is removed.
    pub(crate) fn push(&mut self, key: K, value: V) -> usize {
        let node = Node { entry: Some((key, value)), older: NIL, newer: NIL };
        let index = match self.free.pop() {
            Some(index) => {
                self.nodes[index] = node;
                index
            }
            None => {
                self.nodes.push(node);
                self.nodes.len() - 1
            }
        };
        self.link_newest(index);
        index
    }

    /// Makes entry `index` the newest.
    pub(crate) fn touch(&mut self, index: usize) {
        if index != self.newest {
            self.unlink(index);
            self.link_newest(index);
        }
    }

    /// Removes entry `index`; `None` if it is free.
    pub(crate) fn remove(&mut self, index: usize) -> Option<(K, V)> {
        let entry = self.nodes[index].entry.take()?;
        self.unlink(index);
        self.free.push(index);
        Some(entry)
    }

    /// The key and value of entry `index`; `None` if it is free.
    pub(crate) fn entry(&self, index: usize) -> Option<(&K, &V)> {
        self.nodes[index].entry.as_ref().map(|(key, value)| (key, value))
    }

    /// The least recently used entry's index.
    pub(crate) fn oldest(&self) -> Option<usize> {
        (self.oldest != NIL).then_some(self.oldest)
    }

    /// Entry indices from the oldest to the newest.
    pub(crate) fn oldest_first(&self) -> impl Iterator<Item = usize> + '_ {
        std::iter::successors(self.oldest(), |&index| {
            Some(self.nodes[index].newer).filter(|&newer| newer != NIL)
        })
    }

    fn link_newest(&mut self, index: usize) {
        let previous_newest = self.newest;
        let node = &mut self.nodes[index];
        (node.older, node.newer) = (previous_newest, NIL);
        match previous_newest {
            NIL => self.oldest = index,
            newest => self.nodes[newest].newer = index,
        }
        self.newest = index;
    }

    fn unlink(&mut self, index: usize) {
        let (older, newer) = (self.nodes[index].older, self.nodes[index].newer);
        match older {
            NIL => self.oldest = newer,
            older => self.nodes[older].newer = newer,
        }
        match newer {
            NIL => self.newest = older,
            newer => self.nodes[newer].older = older,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(lru: &Lru<char, ()>) -> String {
        lru.oldest_first().filter_map(|index| lru.entry(index).map(|(key, ())| *key)).collect()
    }

    #[test]
    fn entries_keep_their_order_through_touches_and_removals() {
        let mut lru = Lru::new();
        let [a, b, c] = ['a', 'b', 'c'].map(|key| lru.push(key, ()));
        assert_eq!(keys(&lru), "abc");
        lru.touch(a);
        assert_eq!(keys(&lru), "bca");
        lru.touch(a);
        assert_eq!(keys(&lru), "bca");
        assert_eq!(lru.remove(c), Some(('c', ())));
        assert_eq!(lru.remove(c), None, "already free");
        assert_eq!(keys(&lru), "ba");
        let d = lru.push('d', ());
        assert_eq!(d, c, "a freed index is reused");
        assert_eq!(keys(&lru), "bad");
        lru.remove(b);
        lru.remove(a);
        lru.remove(d);
        assert_eq!(keys(&lru), "");
        lru.push('e', ());
        assert_eq!(keys(&lru), "e");
    }
}
