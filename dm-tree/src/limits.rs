//! [`TreeLimits`]: how much a server can make the device keep.

/// Bounds on what servers can make the tree hold. The device's own writes
/// ([`Principal::Device`](crate::Principal::Device)) are never refused by
/// them; a server command that would go beyond one fails with
/// [`Error::Full`](crate::Error::Full) (`413`) and changes nothing.
///
/// ```
/// use dm_tree::{MoTree, TreeLimits};
///
/// let mut tree = MoTree::new();
/// tree.set_limits(TreeLimits { data_bytes: 64 * 1024, ..TreeLimits::default() });
/// assert_eq!(tree.limits().subscriptions_per_server, 256);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TreeLimits {
    /// The size of the whole tree, as [`MoTree::data_bytes`](crate::MoTree::data_bytes)
    /// counts it, that a server's HGET may not grow it beyond. Default
    /// 16 MiB (the largest MO serialization body the codec accepts).
    pub data_bytes: usize,
    /// SUB subscriptions one server may hold. Default 256.
    pub subscriptions_per_server: usize,
}

impl Default for TreeLimits {
    fn default() -> Self {
        TreeLimits {
            data_bytes: 16 * 1024 * 1024,
            subscriptions_per_server: 256,
        }
    }
}
