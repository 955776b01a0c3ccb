//! Entry points for the fuzz targets of `fuzz/`: the decoders of network
//! and file input that are private to this crate, reachable without
//! copying them. Not part of the supported API; it may change in any
//! release.

use crate::auth::{self, Challenge};
use crate::{Credentials, DmClient, DmClientBuilder, Error};

/// The challenges of one `WWW-Authenticate` value.
pub fn split_challenges(value: &str) -> Vec<&str> {
    auth::split_challenges(value)
}

/// Chooses among the `WWW-Authenticate` values of a `401` the challenge
/// `credentials` answer (as a session does), then answers it for each of
/// `requests` (method, request target) in turn, as the requests of one
/// session do: the `Authorization` values, `None` for a request the
/// challenge could not be answered for. `None` when no challenge fits.
pub fn answer_challenges(
    headers: &[&str],
    credentials: &Credentials,
    requests: &[(&'static str, &str)],
) -> Option<Vec<Option<String>>> {
    let mut challenge = Challenge::choose(headers.iter().copied(), credentials)?;
    Some(
        requests
            .iter()
            .map(|(method, target)| challenge.authorization(credentials, method, target))
            .collect(),
    )
}

/// [`DmClientBuilder::build`] with `bytes` as the content of the state
/// file (the builder needs a state file path, which is neither read nor
/// written).
pub fn load_state(builder: DmClientBuilder, bytes: &[u8]) -> Result<DmClient, Error> {
    builder.assemble(Some(bytes)).map(|(client, _)| client)
}

/// The bytes [`DmClient::save`] would write.
pub fn state_file(client: &DmClient) -> Vec<u8> {
    client.state_file_bytes()
}
