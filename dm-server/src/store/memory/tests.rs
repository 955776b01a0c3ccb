//! Unit tests of [`MemoryStore`](super::MemoryStore)'s file writing.

use super::*;

#[test]
fn an_older_snapshot_never_replaces_a_newer_one() {
    let dir = std::env::temp_dir().join(format!("dm-server-snapshots-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("directory");
    let path = dir.join("store.json");
    let _ = std::fs::remove_file(&path);
    let store = MemoryStore::open(&path).expect("store");
    let take = |next_command| {
        let mut inner = store.lock();
        inner.next_command = next_command;
        inner.dirty = true;
        drop(inner);
        store.snapshot_if_dirty().expect("snapshot").expect("dirty")
    };
    let older = take(1);
    let newer = take(2);
    // Two flushes finishing in the wrong order.
    write_snapshot(&path, &store.written, newer).expect("written");
    write_snapshot(&path, &store.written, older).expect("skipped");
    let on_disk = load(&std::fs::read(&path).expect("file")).expect("a store");
    assert_eq!(on_disk.next_command, 2);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_flush_after_a_cancelled_one_writes_what_that_one_took() {
    let dir = std::env::temp_dir().join(format!("dm-server-cancelled-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("directory");
    let path = dir.join("store.json");
    let _ = std::fs::remove_file(&path);
    let store = MemoryStore::open(&path).expect("store");
    store.lock().next_command = 7;
    store.lock().dirty = true;
    // A periodic flush took its snapshot, then its task was cancelled
    // before the write (the shutdown aborts it): nothing is dirty any
    // more, yet the file does not hold the snapshot.
    let taken = store.snapshot_if_dirty().expect("snapshot").expect("dirty");
    assert!(!store.lock().dirty);
    drop(taken);
    store.flush().await.expect("flushed");
    let on_disk = load(&std::fs::read(&path).expect("the file")).expect("a store");
    assert_eq!(on_disk.next_command, 7, "the shutdown flush wrote it");
    // Written: the next flush has nothing to do.
    assert!(store.snapshot_if_dirty().expect("snapshot").is_none());
    let _ = std::fs::remove_dir_all(&dir);
}
