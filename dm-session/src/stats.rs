//! What a client session counted ([`ClientStats`]), in the manner of
//! quinn-proto's `ConnectionStats`.

/// Counts of one client session, kept by the engine as it goes
/// ([`ClientSession::stats`](crate::ClientSession::stats)): a driver
/// reports them without decoding anything a second time.
///
/// ```
/// use dm_session::{ClientConfig, ClientSession, Response, Trigger};
/// use dm_tree::MoTree;
/// use dm_types::{DevId, ServerId, ServerUri};
///
/// let mut tree = MoTree::new();
/// let config = ClientConfig::new(DevId::new("IMEI:1")?, ServerId::new("srv1")?, ServerUri::new("https://dm.example/dm")?);
/// let mut session = ClientSession::new(config, Trigger::Client, &tree, Vec::new(), std::time::Instant::now());
/// let package1 = session.poll_request().expect("Package#1");
/// let answer = Response {
///     status: 200,
///     content_type: Some("application/vnd.oma.dm.request+json".into()),
///     omadm_accept: None,
///     body: br#"{"CMD":[["GET","urn:x:absent//"],["END"]]}"#.to_vec(),
/// };
/// session.handle_response(package1.id, &answer, &mut tree)?;
/// let stats = session.stats();
/// assert_eq!((stats.packages_sent, stats.packages_received), (1, 1));
/// assert_eq!((stats.commands_received, stats.commands_answered), (1, 1));
/// assert_eq!(stats.bytes_received, answer.body.len() as u64);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientStats {
    /// Packages handed out to send: Package#1 and every Package#3.
    pub packages_sent: usize,
    /// Package#2 received: answers HTTP 200 to a package. At least one
    /// means Package#1 (and the alerts it carried) reached the server.
    pub packages_received: usize,
    /// Commands in the Package#2 received (END not counted; malformed and
    /// unknown ones counted).
    pub commands_received: usize,
    /// Commands that got a status: run, refused (busy, malformed, unknown)
    /// or answered by their repository request.
    pub commands_answered: usize,
    /// Repository requests handed out (HGET, HPUT, HPOST).
    pub repository_requests: usize,
    /// SUB change reports handed out.
    pub change_reports: usize,
    /// Requests that got no usable answer
    /// ([`ClientSession::handle_failure`](crate::ClientSession::handle_failure)).
    pub failures: usize,
    /// Bytes of the request bodies handed out.
    pub bytes_sent: u64,
    /// Bytes of the answer bodies fed back.
    pub bytes_received: u64,
}
