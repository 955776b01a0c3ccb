//! Where the database is: a `postgres://` URL completed from the standard
//! `PG*` environment variables, as libpq does.

use std::path::Path;

use dm_server::Error;
use tokio_postgres::config::Host;

/// The default port of PostgreSQL.
const DEFAULT_PORT: u16 = 5432;

/// The connection settings of `url` (`postgres://` or `postgresql://`, or
/// libpq's `key=value` form; empty for all from the environment): what it
/// lacks comes from `PGHOST`, `PGPORT`, `PGUSER`, `PGPASSWORD` and
/// `PGDATABASE` as `env` gives them, then libpq's defaults (the local
/// socket directory when it has a server's socket, else `localhost`; port
/// 5432; the user running the program; a database named as the user).
pub(crate) fn resolve(
    url: &str,
    env: impl Fn(&str) -> Option<String>,
) -> Result<tokio_postgres::Config, Error> {
    let env = |name: &str| env(name).filter(|v| !v.is_empty());
    let port_from_env = env("PGPORT");
    let url = match &port_from_env {
        Some(port) => with_port(url, port),
        None => url.to_owned(),
    };
    let mut config: tokio_postgres::Config = url.parse().map_err(|e| Error::Config {
        setting: "PostgreSQL URL".to_owned(),
        problem: crate::failure::problem(&e),
    })?;
    if config.get_ports().is_empty() {
        let port = match port_from_env {
            Some(port) => port.parse().map_err(|_| Error::Config {
                setting: "PGPORT".to_owned(),
                problem: format!("{port:?} is not a port number"),
            })?,
            None => DEFAULT_PORT,
        };
        config.port(port);
    }
    if config.get_hosts().is_empty() {
        if let Some(hosts) = env("PGHOST") {
            for host in hosts.split(',') {
                config.host(host);
            }
        } else {
            let port = config.get_ports()[0];
            config.host(default_host(port));
        }
    }
    if config.get_user().is_none() {
        let user = env("PGUSER")
            .or_else(|| env("USER"))
            .or_else(|| env("LOGNAME"))
            .unwrap_or_else(|| "postgres".to_owned());
        config.user(&user);
    }
    if config.get_password().is_none()
        && let Some(password) = env("PGPASSWORD")
    {
        config.password(password);
    }
    if config.get_dbname().is_none() {
        let dbname = env("PGDATABASE")
            .or_else(|| config.get_user().map(str::to_owned))
            .unwrap_or_default();
        config.dbname(&dbname);
    }
    Ok(config)
}

/// A `postgres://` URL whose hosts have no port given the port `port`
/// (the driver would take 5432 for them); other URLs as they are.
fn with_port(url: &str, port: &str) -> String {
    let Some(scheme_end) = ["postgres://", "postgresql://"]
        .iter()
        .find_map(|scheme| url.starts_with(scheme).then_some(scheme.len()))
    else {
        return url.to_owned();
    };
    let rest = &url[scheme_end..];
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let query = rest.find('?').map_or("", |q| &rest[q..]);
    if query.contains("port=") {
        return url.to_owned();
    }
    let authority = &rest[..authority_end];
    let hosts_start = authority.rfind('@').map_or(0, |at| at + 1);
    let hosts = &authority[hosts_start..];
    if hosts.is_empty() {
        return url.to_owned();
    }
    let hosts: Vec<String> = hosts
        .split(',')
        .map(|chunk| {
            let has_port = match chunk.strip_prefix('[') {
                Some(v6) => v6.contains("]:"),
                None => chunk.contains(':'),
            };
            if has_port {
                chunk.to_owned()
            } else {
                format!("{chunk}:{port}")
            }
        })
        .collect();
    format!(
        "{}{}{}{}",
        &url[..scheme_end],
        &authority[..hosts_start],
        hosts.join(","),
        &rest[authority_end..]
    )
}

/// libpq's default host: the socket directory holding the server's socket
/// for `port`, else `localhost`.
fn default_host(port: u16) -> String {
    if cfg!(unix) {
        for dir in ["/var/run/postgresql", "/tmp"] {
            if Path::new(dir).join(format!(".s.PGSQL.{port}")).exists() {
                return dir.to_owned();
            }
        }
    }
    "localhost".to_owned()
}

/// The database as errors and logs name it: `host:port/dbname`, never the
/// user or the password.
pub(crate) fn label(config: &tokio_postgres::Config) -> String {
    let port = |i: usize| {
        let ports = config.get_ports();
        ports
            .get(i)
            .or_else(|| ports.first())
            .copied()
            .unwrap_or(DEFAULT_PORT)
    };
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, host)| match host {
            Host::Tcp(name) if name.contains(':') => format!("[{name}]:{}", port(i)),
            Host::Tcp(name) => format!("{name}:{}", port(i)),
            #[cfg(unix)]
            Host::Unix(path) => format!("{}:{}", path.display(), port(i)),
        })
        .collect();
    format!(
        "{}/{}",
        hosts.join(","),
        config.get_dbname().unwrap_or_default()
    )
}

#[cfg(test)]
mod tests {
    use super::{label, resolve};

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn a_full_url_needs_nothing_from_the_environment() {
        let vars = [
            ("PGHOST", "elsewhere"),
            ("PGUSER", "other"),
            ("PGPORT", "1"),
        ];
        for scheme in ["postgres", "postgresql"] {
            let config = resolve(
                &format!("{scheme}://dm:s%40cret@db.example:6543/dm?application_name=x"),
                env(&vars),
            )
            .unwrap();
            assert_eq!(config.get_user(), Some("dm"));
            assert_eq!(config.get_password(), Some(&b"s@cret"[..]));
            assert_eq!(label(&config), "db.example:6543/dm");
        }
    }

    #[test]
    fn what_the_url_lacks_comes_from_the_environment() {
        let vars = [
            ("PGHOST", "pg.internal"),
            ("PGPORT", "5433"),
            ("PGUSER", "svc"),
            ("PGPASSWORD", "pw"),
            ("PGDATABASE", "dm"),
        ];
        let config = resolve("", env(&vars)).unwrap();
        assert_eq!(config.get_user(), Some("svc"));
        assert_eq!(config.get_password(), Some(&b"pw"[..]));
        assert_eq!(label(&config), "pg.internal:5433/dm");

        let config = resolve("postgres://10.0.0.1/other", env(&vars)).unwrap();
        assert_eq!(label(&config), "10.0.0.1:5433/other");
        assert_eq!(config.get_user(), Some("svc"));
        let config = resolve("postgres://u@a,[::1],c:7/d?sslmode=disable", env(&vars)).unwrap();
        assert_eq!(label(&config), "a:5433,[::1]:5433,c:7/d");
        assert_eq!(config.get_user(), Some("u"));
    }

    #[test]
    fn libpq_defaults_fill_the_rest() {
        let config = resolve("postgres://h", env(&[("USER", "alice")])).unwrap();
        assert_eq!(config.get_user(), Some("alice"));
        assert_eq!(config.get_password(), None);
        assert_eq!(label(&config), "h:5432/alice");
        let config = resolve("postgres://[::1]:5/d", env(&[])).unwrap();
        assert_eq!(label(&config), "[::1]:5/d");
    }

    #[test]
    fn a_bad_url_or_port_is_a_configuration_error() {
        assert!(matches!(
            resolve("postgres://h:notaport/d", env(&[])),
            Err(dm_server::Error::Config { .. })
        ));
        assert!(matches!(
            resolve("", env(&[("PGPORT", "x")])),
            Err(dm_server::Error::Config { setting, .. }) if setting == "PGPORT"
        ));
    }
}
