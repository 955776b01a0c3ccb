//! Commands of a Package#2 (docs/protocol.md section 4).

use std::fmt;

use crate::{ClientUri, Error, Moid, ServerUri, StatusCode};

/// A list with at least one element.
///
/// ```
/// use dm_types::NonEmpty;
///
/// assert!(NonEmpty::new(Vec::<u8>::new()).is_none());
/// let list = NonEmpty::new(vec![1, 2]).unwrap();
/// assert_eq!(*list.first(), 1);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NonEmpty<T>(Vec<T>);

impl<T> NonEmpty<T> {
    /// `None` when `items` is empty.
    pub fn new(items: Vec<T>) -> Option<NonEmpty<T>> {
        (!items.is_empty()).then_some(NonEmpty(items))
    }

    /// A list of one.
    pub fn one(item: T) -> NonEmpty<T> {
        NonEmpty(vec![item])
    }

    /// The first element.
    pub fn first(&self) -> &T {
        // Construction guarantees at least one element.
        &self.0[0]
    }

    /// The elements.
    pub fn as_slice(&self) -> &[T] {
        &self.0
    }

    /// The elements, by value.
    pub fn into_vec(self) -> Vec<T> {
        self.0
    }

    /// Number of elements (at least 1).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Always `false`; present for API symmetry.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Iterates over the elements.
    pub fn iter(&self) -> std::slice::Iter<'_, T> {
        self.0.iter()
    }
}

impl<'a, T> IntoIterator for &'a NonEmpty<T> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// One of the twelve commands of DM 2.0, with typed parameters.
///
/// ```
/// use dm_types::Command;
///
/// let cmd = Command::from_words(&["GET", "urn:oma:mo:oma-dm-devinfo:1.0//Man"])?;
/// assert_eq!(cmd.name(), "GET");
/// assert_eq!(cmd.params().collect::<Vec<_>>(), ["urn:oma:mo:oma-dm-devinfo:1.0//Man"]);
///
/// let err = Command::from_words(&["FROB"]).unwrap_err();
/// assert_eq!(err.status().as_u16(), 501);
/// let err = Command::from_words(&["GET"]).unwrap_err();
/// assert_eq!(err.status().as_u16(), 400);
/// # Ok::<(), dm_types::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Command {
    /// Fetch MO data from `source` and add or replace it in the tree.
    Hget {
        /// The repository resource to GET.
        source: ServerUri,
        /// Where to write; absent: each item's own ClientURI.
        target: Option<ClientUri>,
    },
    /// PUT the data at `targets` to `destination`.
    Hput {
        /// The repository resource.
        destination: ServerUri,
        /// The nodes to serialize.
        targets: NonEmpty<ClientUri>,
    },
    /// POST the data at `targets` to `destination`.
    Hpost {
        /// The repository resource.
        destination: ServerUri,
        /// The nodes to serialize.
        targets: NonEmpty<ClientUri>,
    },
    /// Delete nodes (interior nodes with all descendants).
    Delete {
        /// The nodes to delete.
        targets: NonEmpty<ClientUri>,
    },
    /// Execute a node.
    Exec {
        /// The executable node.
        target: ClientUri,
        /// Where to report asynchronously (forces a 202 status).
        report_to: Option<ServerUri>,
    },
    /// Return the data of nodes in Package#3.
    Get {
        /// The nodes to read.
        targets: NonEmpty<ClientUri>,
    },
    /// Open a page in the Web Browser Component.
    Show {
        /// The page.
        page: ServerUri,
    },
    /// Post this and every later Package#3 of the session to `uri`.
    Cont {
        /// The new package destination.
        uri: ServerUri,
    },
    /// End the session after this package.
    End,
    /// Where to fetch configuration for `moid` when it is missing.
    Default {
        /// The MO type.
        moid: Moid,
        /// The repository resource holding its default configuration.
        source: ServerUri,
    },
    /// Report changes under `target` by HTTP PUT to `report_to`.
    Sub {
        /// The subtree to watch.
        target: ClientUri,
        /// Where reports go.
        report_to: ServerUri,
    },
    /// Cancel a SUB made with the identical ClientURI.
    Unsub {
        /// The ClientURI of the SUB.
        target: ClientUri,
    },
}

/// The names of the twelve commands, as written on the wire.
pub const COMMAND_NAMES: [&str; 12] = [
    "HGET", "HPUT", "HPOST", "DELETE", "EXEC", "GET", "SHOW", "CONT", "END", "DEFAULT", "SUB",
    "UNSUB",
];

fn param<T>(
    command: &'static str,
    index: usize,
    text: &str,
    parse: impl FnOnce(&str) -> Result<T, Error>,
) -> Result<T, Error> {
    parse(text).map_err(|e| Error::CommandParameter {
        command,
        index,
        source: Box::new(e),
    })
}

fn client_uris<S: AsRef<str>>(
    command: &'static str,
    first_index: usize,
    words: &[S],
) -> Result<NonEmpty<ClientUri>, Error> {
    // A plain loop into a vector of the exact size: on the decoding hot path,
    // collecting `Result`s costs as much as parsing short ClientURIs.
    let mut uris = Vec::with_capacity(words.len());
    for (i, word) in words.iter().enumerate() {
        uris.push(param(
            command,
            first_index + i,
            word.as_ref(),
            ClientUri::parse,
        )?);
    }
    NonEmpty::new(uris).ok_or(Error::CommandArity {
        command,
        expected: "at least one ClientURI",
        got: first_index - 1,
    })
}

impl Command {
    /// Parses the Package#2 array form: the command name, then its
    /// parameters in the order of section 4.
    ///
    /// An unknown name gives [`Error::UnknownCommand`] (status 501); a wrong
    /// parameter count or a malformed parameter gives status 400.
    pub fn from_words<S: AsRef<str>>(words: &[S]) -> Result<Command, Error> {
        let Some((name, params)) = words.split_first() else {
            return Err(Error::Package("a command is a non-empty array"));
        };
        let name = name.as_ref();
        let p = |i: usize| params[i].as_ref();
        let arity = |command: &'static str, expected: &'static str| Error::CommandArity {
            command,
            expected,
            got: params.len(),
        };
        let server_uri = |command, i: usize| param(command, i + 1, p(i), |s| ServerUri::new(s));
        let client_uri = |command, i: usize| param(command, i + 1, p(i), ClientUri::parse);
        Ok(match name {
            "HGET" => match params.len() {
                1 | 2 => Command::Hget {
                    source: server_uri("HGET", 0)?,
                    target: if params.len() == 2 {
                        Some(client_uri("HGET", 1)?)
                    } else {
                        None
                    },
                },
                _ => return Err(arity("HGET", "1 or 2")),
            },
            "HPUT" | "HPOST" => {
                let command = if name == "HPUT" { "HPUT" } else { "HPOST" };
                if params.len() < 2 {
                    return Err(arity(command, "at least 2"));
                }
                let destination = server_uri(command, 0)?;
                let targets = client_uris(command, 2, &params[1..])?;
                if command == "HPUT" {
                    Command::Hput {
                        destination,
                        targets,
                    }
                } else {
                    Command::Hpost {
                        destination,
                        targets,
                    }
                }
            }
            "DELETE" | "GET" => {
                let command = if name == "GET" { "GET" } else { "DELETE" };
                if params.is_empty() {
                    return Err(arity(command, "at least 1"));
                }
                let targets = client_uris(command, 1, params)?;
                if command == "GET" {
                    Command::Get { targets }
                } else {
                    Command::Delete { targets }
                }
            }
            "EXEC" => match params.len() {
                1 | 2 => Command::Exec {
                    target: client_uri("EXEC", 0)?,
                    report_to: if params.len() == 2 {
                        Some(server_uri("EXEC", 1)?)
                    } else {
                        None
                    },
                },
                _ => return Err(arity("EXEC", "1 or 2")),
            },
            "SHOW" | "CONT" => {
                let command = if name == "SHOW" { "SHOW" } else { "CONT" };
                if params.len() != 1 {
                    return Err(arity(command, "exactly 1"));
                }
                let uri = server_uri(command, 0)?;
                if command == "SHOW" {
                    Command::Show { page: uri }
                } else {
                    Command::Cont { uri }
                }
            }
            "END" => {
                if !params.is_empty() {
                    return Err(arity("END", "no"));
                }
                Command::End
            }
            "DEFAULT" => {
                if params.len() != 2 {
                    return Err(arity("DEFAULT", "exactly 2"));
                }
                Command::Default {
                    moid: param("DEFAULT", 1, p(0), |s| Moid::new(s))?,
                    source: server_uri("DEFAULT", 1)?,
                }
            }
            "SUB" => {
                if params.len() != 2 {
                    return Err(arity("SUB", "exactly 2"));
                }
                Command::Sub {
                    target: client_uri("SUB", 0)?,
                    report_to: server_uri("SUB", 1)?,
                }
            }
            "UNSUB" => {
                if params.len() != 1 {
                    return Err(arity("UNSUB", "exactly 1"));
                }
                Command::Unsub {
                    target: client_uri("UNSUB", 0)?,
                }
            }
            other => {
                return Err(Error::UnknownCommand {
                    name: other.to_owned(),
                });
            }
        })
    }

    /// The command name as written on the wire.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Hget { .. } => "HGET",
            Command::Hput { .. } => "HPUT",
            Command::Hpost { .. } => "HPOST",
            Command::Delete { .. } => "DELETE",
            Command::Exec { .. } => "EXEC",
            Command::Get { .. } => "GET",
            Command::Show { .. } => "SHOW",
            Command::Cont { .. } => "CONT",
            Command::End => "END",
            Command::Default { .. } => "DEFAULT",
            Command::Sub { .. } => "SUB",
            Command::Unsub { .. } => "UNSUB",
        }
    }

    /// The parameters in wire order, as text (ServerURIs exactly as received,
    /// ClientURIs in canonical form).
    pub fn params(&self) -> Params<'_> {
        let none: &[ClientUri] = &[];
        let (head, uris, tail): ([Option<&str>; 2], &[ClientUri], Option<&str>) = match self {
            Command::Hget { source, target } => {
                ([Some(source.as_str()), None], target.as_slice(), None)
            }
            Command::Hput {
                destination,
                targets,
            }
            | Command::Hpost {
                destination,
                targets,
            } => ([Some(destination.as_str()), None], targets.as_slice(), None),
            Command::Delete { targets } | Command::Get { targets } => {
                ([None, None], targets.as_slice(), None)
            }
            Command::Exec { target, report_to } => (
                [None, None],
                std::slice::from_ref(target),
                report_to.as_ref().map(ServerUri::as_str),
            ),
            Command::Show { page: uri } | Command::Cont { uri } => {
                ([Some(uri.as_str()), None], none, None)
            }
            Command::End => ([None, None], none, None),
            Command::Default { moid, source } => {
                ([Some(moid.as_str()), Some(source.as_str())], none, None)
            }
            Command::Sub { target, report_to } => (
                [None, None],
                std::slice::from_ref(target),
                Some(report_to.as_str()),
            ),
            Command::Unsub { target } => ([None, None], std::slice::from_ref(target), None),
        };
        Params {
            head,
            next_head: 0,
            uris: uris.iter(),
            tail,
        }
    }

    /// The ClientURIs this command addresses, in parameter order.
    pub fn client_uris(&self) -> &[ClientUri] {
        match self {
            Command::Hget { target, .. } => target.as_slice(),
            Command::Hput { targets, .. }
            | Command::Hpost { targets, .. }
            | Command::Delete { targets }
            | Command::Get { targets } => targets.as_slice(),
            Command::Exec { target, .. }
            | Command::Sub { target, .. }
            | Command::Unsub { target } => std::slice::from_ref(target),
            Command::Show { .. }
            | Command::Cont { .. }
            | Command::End
            | Command::Default { .. } => &[],
        }
    }
}

/// Iterator over a command's parameters, from [`Command::params`].
#[derive(Debug, Clone)]
pub struct Params<'a> {
    head: [Option<&'a str>; 2],
    next_head: usize,
    uris: std::slice::Iter<'a, ClientUri>,
    tail: Option<&'a str>,
}

impl<'a> Iterator for Params<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        while self.next_head < 2 {
            let item = self.head[self.next_head];
            self.next_head += 1;
            if item.is_some() {
                return item;
            }
        }
        if let Some(uri) = self.uris.next() {
            return Some(uri.as_str());
        }
        self.tail.take()
    }
}

impl fmt::Display for Command {
    /// The command as its JSON array form, e.g. `["GET","urn:x:y//a"]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{:?}", self.name())?;
        for p in self.params() {
            write!(f, ",{p:?}")?;
        }
        f.write_str("]")
    }
}

/// A well-shaped command that could not be parsed: an unknown name (501) or
/// wrong parameters (400). Kept verbatim so the client answers it with a
/// status and goes on with the next command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidCommand {
    /// The array exactly as received (name first).
    pub words: Vec<String>,
    /// Why it was rejected.
    pub error: Error,
}

impl InvalidCommand {
    /// The status the client answers it with (501 or 400).
    pub fn status(&self) -> StatusCode {
        self.error.status()
    }
}

/// One entry of a Package#2 `CMD` array.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandEntry {
    /// A command that parsed.
    Command(Command),
    /// A well-shaped command that did not parse.
    Invalid(InvalidCommand),
}

impl CommandEntry {
    /// Parses one command array; never fails, keeping what does not parse.
    ///
    /// ```
    /// use dm_types::CommandEntry;
    ///
    /// let entry = CommandEntry::from_words(vec!["FROB".to_owned(), "x".to_owned()]);
    /// assert!(matches!(entry, CommandEntry::Invalid(ref c) if c.status().as_u16() == 501));
    /// ```
    pub fn from_words(words: Vec<String>) -> CommandEntry {
        match Command::from_words(&words) {
            Ok(command) => CommandEntry::Command(command),
            Err(error) => CommandEntry::Invalid(InvalidCommand { words, error }),
        }
    }

    /// The command name as received.
    pub fn name(&self) -> &str {
        match self {
            CommandEntry::Command(c) => c.name(),
            CommandEntry::Invalid(c) => c.words.first().map_or("", String::as_str),
        }
    }

    /// Whether this entry is named END (valid or not).
    pub fn is_end(&self) -> bool {
        self.name() == "END"
    }
}

impl From<Command> for CommandEntry {
    fn from(c: Command) -> Self {
        CommandEntry::Command(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(w: &[&str]) -> Result<Command, Error> {
        Command::from_words(w)
    }

    #[test]
    fn params_round_trip() {
        let cases: &[&[&str]] = &[
            &["HGET", "https://r.example/a"],
            &["HGET", "https://r.example/a", "urn:x:y//"],
            &["HPUT", "https://r.example/a", "urn:x:y//", "urn:x:y/*/b"],
            &["HPOST", "https://r.example/a", "urn:x:y//"],
            &["DELETE", "urn:x:y/a/b"],
            &["EXEC", "urn:x:y/a/b"],
            &["EXEC", "urn:x:y/a/b", "https://dm.example/async"],
            &["GET", "urn:x:y//a", "urn:x:y//b"],
            &["SHOW", "https://ui.example/?s=1"],
            &["CONT", "https://dm.example/s/1"],
            &["END"],
            &["DEFAULT", "urn:x:y", "https://r.example/d"],
            &["SUB", "urn:x:y/a/", "https://dm.example/c"],
            &["UNSUB", "urn:x:y/a/"],
        ];
        for case in cases {
            let cmd = words(case).unwrap();
            assert_eq!(cmd.name(), case[0]);
            assert_eq!(cmd.params().collect::<Vec<_>>(), case[1..], "{case:?}");
        }
        assert_eq!(cases.len(), 14);
    }

    #[test]
    fn errors() {
        assert!(matches!(words(&["HGET"]), Err(Error::CommandArity { .. })));
        assert!(matches!(
            words(&["END", "x"]),
            Err(Error::CommandArity { .. })
        ));
        assert!(matches!(
            words(&["GET", "nope"]),
            Err(Error::CommandParameter { index: 1, .. })
        ));
        assert!(matches!(
            words(&["HPUT", "https://a/", "urn:x:y//", "bad"]),
            Err(Error::CommandParameter { index: 3, .. })
        ));
        assert!(matches!(
            words(&["SHOW", "urn:x:y//"]),
            Err(Error::CommandParameter { .. })
        ));
        assert!(matches!(
            words(&["get", "urn:x:y//"]),
            Err(Error::UnknownCommand { .. })
        ));
        assert_eq!(
            words(&["GET", "urn:x:y//a"]).unwrap().to_string(),
            r#"["GET","urn:x:y//a"]"#
        );
    }
}
