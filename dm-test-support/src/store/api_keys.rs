//! The API key part of the store contract: keys are added once by id,
//! read back with their hash, listed in id order, revoked once (the first
//! time kept), and their last use only moves forward.

use dm_server::{ApiKey, ApiKeyId, ApiKeyRecord, Scope, Store};

fn record(name: &str, scope: Scope, created_ms: u64) -> (ApiKey, ApiKeyRecord) {
    let key = ApiKey::generate().expect("a key");
    let record = ApiKeyRecord::new(&key, name, scope, created_ms);
    (key, record)
}

/// Keys are added once, read back as added, listed in id order, revoked
/// once, and their use recorded forward only; an unknown id changes
/// nothing.
pub async fn api_keys_are_kept_revoked_once_and_listed_in_id_order<S: Store>(store: S) {
    assert!(store.api_keys().await.expect("listed").is_empty());
    let (key, ci) = record("ci pipeline", Scope::Read, 10);
    let (_, ops) = record("ops", Scope::Operator, 20);
    let (_, root) = record("root", Scope::Admin, 30);
    for added in [&ci, &ops, &root] {
        assert!(store.put_api_key(added.clone()).await.expect("added"));
    }
    // A second key under a taken id changes nothing.
    let mut twin = record("twin", Scope::Admin, 40).1;
    twin.id = ci.id.clone();
    assert!(!store.put_api_key(twin).await.expect("refused"));
    let read = store.api_key(&ci.id).await.expect("read").expect("found");
    assert_eq!(read, ci);
    assert_eq!(read.secret_sha256, key.secret_sha256());
    let mut ids: Vec<ApiKeyId> = [&ci, &ops, &root].iter().map(|r| r.id.clone()).collect();
    ids.sort();
    let listed: Vec<ApiKeyId> = store
        .api_keys()
        .await
        .expect("listed")
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(listed, ids);

    // Revoked once: a second revocation keeps the first time.
    assert!(store.revoke_api_key(&ops.id, 100).await.expect("revoked"));
    assert!(store.revoke_api_key(&ops.id, 200).await.expect("again"));
    let revoked = store.api_key(&ops.id).await.expect("read").expect("kept");
    assert_eq!(revoked.revoked_ms, Some(100));
    assert_eq!(
        (revoked.name.as_str(), revoked.scope),
        ("ops", Scope::Operator)
    );
    let unknown = ApiKey::generate().expect("a key");
    assert!(
        !store
            .revoke_api_key(unknown.id(), 100)
            .await
            .expect("no key")
    );
    assert!(store.api_key(unknown.id()).await.expect("read").is_none());

    // The last use moves forward only; an unknown key records nothing.
    store
        .record_api_key_use(&ci.id, 500)
        .await
        .expect("recorded");
    store
        .record_api_key_use(&ci.id, 400)
        .await
        .expect("recorded");
    store
        .record_api_key_use(unknown.id(), 400)
        .await
        .expect("nothing");
    let used = store.api_key(&ci.id).await.expect("read").expect("kept");
    assert_eq!(used.last_used_ms, Some(500));
    assert_eq!(used.revoked_ms, None);
    assert_eq!(store.api_keys().await.expect("listed").len(), 3);
}
