//! The HTTP state of one session: the credentials and where they may go,
//! the answered authentication challenge, and the session's cookies.

use dm_session::{Request, RequestKind};
use dm_types::ServerUri;

use crate::auth::{Challenge, Credentials};

/// Most cookies one session keeps.
const MAX_COOKIES: usize = 16;
/// Longest `name=value` pair kept.
const MAX_COOKIE_LEN: usize = 4096;

/// The HTTP state of one session: credentials (sent to the origin of
/// `SrvURI`, and with the packages of a session that CONT moved elsewhere),
/// the challenge answered, and cookies by origin.
#[derive(Debug)]
pub(crate) struct HttpSession {
    pub(super) credentials: Credentials,
    origin: ServerUri,
    /// Whether the session's Package#1 went to the origin of `SrvURI`
    /// (`None` before it was posted): only such a session, opened with the
    /// account's server, may take its credentials elsewhere by CONT.
    started_home: Option<bool>,
    /// Where the session's packages go now, once CONT moved them away from
    /// `SrvURI` (docs/protocol.md section 2.1: credentials follow the
    /// session to the URI the authenticated server chose).
    session_uri: Option<ServerUri>,
    pub(super) challenge: Option<Challenge>,
    cookies: Vec<(ServerUri, String)>,
}

impl HttpSession {
    pub(crate) fn new(credentials: Credentials, origin: ServerUri) -> HttpSession {
        HttpSession {
            credentials,
            origin,
            started_home: None,
            session_uri: None,
            challenge: None,
            cookies: Vec::new(),
        }
    }

    /// Records where the session engine posts a package: the first one
    /// opens the session (at `SrvURI`, or at an asynchronous report's
    /// ServerURI), the later ones go where CONT moved the session. The
    /// credentials follow a CONT only in a session opened at the origin of
    /// `SrvURI`, i.e. when the server that chose the URI is the one the
    /// credentials belong to.
    pub(crate) fn package_posted(&mut self, uri: &ServerUri) {
        match self.started_home {
            None => self.started_home = Some(uri.same_origin(&self.origin)),
            Some(true) => {
                self.session_uri = (!uri.same_origin(&self.origin)).then(|| uri.clone());
            }
            Some(false) => {}
        }
    }

    /// Whether the account's credentials go with `request`: to the origin
    /// of `SrvURI` always, and to the session's CONT origin for packages.
    pub(super) fn credentials_apply(&self, request: &Request) -> bool {
        if matches!(self.credentials, Credentials::None) {
            return false;
        }
        request.uri.same_origin(&self.origin)
            || (request.kind == RequestKind::Package
                && self
                    .session_uri
                    .as_ref()
                    .is_some_and(|session| request.uri.same_origin(session)))
    }

    pub(super) fn cookie_header(&self, uri: &ServerUri) -> Option<String> {
        let pairs: Vec<&str> = self
            .cookies
            .iter()
            .filter(|(origin, _)| origin.same_origin(uri))
            .map(|(_, pair)| pair.as_str())
            .collect();
        (!pairs.is_empty()).then(|| pairs.join("; "))
    }

    /// Keeps the `name=value` pair of each `Set-Cookie` (attributes are
    /// ignored: the jar lives for one session and is scoped to the origin
    /// that set it). An empty value or `Max-Age=0` removes the cookie.
    pub(super) fn store_cookies<'a>(
        &mut self,
        uri: &ServerUri,
        headers: impl Iterator<Item = &'a str>,
    ) {
        for header in headers {
            let mut parts = header.split(';');
            let Some((name, value)) = parts.next().and_then(|pair| pair.split_once('=')) else {
                continue;
            };
            let (name, value) = (name.trim(), value.trim());
            if name.is_empty() || name.len() + value.len() + 1 > MAX_COOKIE_LEN {
                continue;
            }
            let expired = value.is_empty()
                || parts.any(|attribute| {
                    attribute
                        .trim()
                        .to_ascii_lowercase()
                        .replace(' ', "")
                        .starts_with("max-age=0")
                });
            self.cookies.retain(|(origin, pair)| {
                !(origin.same_origin(uri) && pair.split_once('=').is_some_and(|(n, _)| n == name))
            });
            if !expired && self.cookies.len() < MAX_COOKIES {
                self.cookies.push((uri.clone(), format!("{name}={value}")));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dm_types::DevId;

    fn uri(text: &str) -> ServerUri {
        ServerUri::new(text).expect("valid URI")
    }

    #[test]
    fn cookies_stay_with_their_origin_and_can_be_removed() {
        let mut http = HttpSession::new(Credentials::None, uri("https://dm.example/dm"));
        let here = uri("https://dm.example/dm");
        http.store_cookies(&here, ["sid=abc; Path=/; HttpOnly", "lang=en"].into_iter());
        assert_eq!(
            http.cookie_header(&uri("https://dm.example/dm/s/1")),
            Some("sid=abc; lang=en".into())
        );
        assert_eq!(http.cookie_header(&uri("https://repo.example/x")), None);
        http.store_cookies(&here, ["sid=def", "lang=; Max-Age=0"].into_iter());
        assert_eq!(http.cookie_header(&here), Some("sid=def".into()));
        http.store_cookies(&here, ["sid=x; Max-Age=0"].into_iter());
        assert_eq!(http.cookie_header(&here), None);
    }

    /// A request to `target`: a Package#3 or a repository read.
    fn outgoing(target: &ServerUri, dev_id: &DevId, package: bool) -> Request {
        let report = dm_tree::ChangeReport {
            server: dm_types::ServerId::new("dm").expect("id"),
            report_to: target.clone(),
            items: Vec::new(),
        };
        let mut request = Request::change_report(dev_id, &report);
        request.kind = if package {
            RequestKind::Package
        } else {
            RequestKind::RepositoryRead
        };
        request
    }

    #[test]
    fn credentials_go_to_the_server_origin_only() {
        let dev_id = DevId::new("IMEI:1").expect("id");
        let http = HttpSession::new(
            Credentials::password("u", "p"),
            uri("https://dm.example/dm"),
        );
        for package in [false, true] {
            let same = uri("https://DM.example:443/repo/x");
            assert!(http.credentials_apply(&outgoing(&same, &dev_id, package)));
            let plain = uri("http://dm.example/repo/x");
            assert!(!http.credentials_apply(&outgoing(&plain, &dev_id, package)));
            let other = uri("https://repo.example/x");
            assert!(!http.credentials_apply(&outgoing(&other, &dev_id, package)));
        }
    }

    #[test]
    fn credentials_follow_the_session_packages_to_the_cont_origin_only() {
        let dev_id = DevId::new("IMEI:1").expect("id");
        let mut http = HttpSession::new(
            Credentials::password("u", "p"),
            uri("https://dm.example/dm"),
        );
        http.package_posted(&uri("https://dm.example/dm"));
        let node = uri("https://node2.example/dm/s/1");
        http.package_posted(&node);
        assert!(http.credentials_apply(&outgoing(&node, &dev_id, true)));
        // A repository request at the CONT origin gets none (only SrvURI's
        // origin is trusted for repository access).
        let repo = uri("https://node2.example/repo/x");
        assert!(!http.credentials_apply(&outgoing(&repo, &dev_id, false)));
        // Packages elsewhere (an asynchronous report's ServerURI) get none.
        let elsewhere = uri("https://report.example/r");
        assert!(!http.credentials_apply(&outgoing(&elsewhere, &dev_id, true)));
        // Back home: the follow ends, SrvURI's origin still applies.
        http.package_posted(&uri("https://dm.example/dm/s/2"));
        assert!(!http.credentials_apply(&outgoing(&node, &dev_id, true)));
        let home = uri("https://dm.example/dm/s/2");
        assert!(http.credentials_apply(&outgoing(&home, &dev_id, true)));

        // A session opened elsewhere (an asynchronous report to another
        // origin) never takes the credentials anywhere by CONT.
        let mut report = HttpSession::new(
            Credentials::password("u", "p"),
            uri("https://dm.example/dm"),
        );
        report.package_posted(&uri("https://report.example/r"));
        report.package_posted(&node);
        assert!(!report.credentials_apply(&outgoing(&node, &dev_id, true)));
    }
}
