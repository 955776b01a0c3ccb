//! [`SimulatedComponents`]: software components in memory, for demos, tests
//! and load tests.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use dm_types::update::ScomoResult;

use super::download::{PackageSink, SinkError};
use super::scomo::{Component, ComponentError, DeployedComponent, SoftwareComponents};

/// How [`SimulatedComponents`] behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Simulation {
    /// How long each install, activation, deactivation and removal takes
    /// (the calling thread sleeps).
    pub duration: Duration,
    /// What an install reports (`1200` by default; any other code makes
    /// every install fail with it).
    pub result: ScomoResult,
    /// The share of installs, in percent, that fail with `1410` whatever
    /// [`Simulation::result`] says.
    pub fail_percent: u8,
    /// Seed of the draw behind [`Simulation::fail_percent`] (the same seed
    /// gives the same sequence of failures).
    pub seed: u64,
    /// Most components held, delivered and deployed together; a package
    /// beyond is refused with `1501`.
    pub capacity: usize,
    /// Largest package stored, in bytes (only its size is kept).
    pub max_package_size: u64,
}

impl Default for Simulation {
    fn default() -> Simulation {
        Simulation {
            duration: Duration::ZERO,
            result: ScomoResult::SUCCESSFUL,
            fail_percent: 0,
            seed: 1,
            capacity: 64,
            max_package_size: 256 << 20,
        }
    }
}

/// Software components simulated in memory (bounded by
/// [`Simulation::capacity`]): packages are counted, not kept; installs take
/// [`Simulation::duration`] and report [`Simulation::result`], or `1410`
/// for the drawn [`Simulation::fail_percent`]. The `Version` of an
/// installed component is the last `-`-separated part of its `PkgID` when
/// that starts with a digit (`app-1.2.0` gives `1.2.0`), else `1.0`; its
/// `ID` is its `PkgID` (or its name).
///
/// ```
/// use dm_client::update::{Component, SimulatedComponents, Simulation, SoftwareComponents};
///
/// let components = SimulatedComponents::new(Simulation::default());
/// let app = Component { name: "app".into(), pkg_id: Some("app-2.0.1".into()), ..Component::default() };
/// let mut sink = components.package_sink(&app)?;
/// sink.append(b"package")?;
/// drop(sink);
/// components.deliver(&app)?;
/// let deployed = components.install("app", false)?;
/// assert_eq!((deployed.version.as_deref(), deployed.active), (Some("2.0.1"), false));
/// components.activate("app")?;
/// assert!(components.deployed()[0].active);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct SimulatedComponents {
    simulation: Simulation,
    state: Arc<Mutex<State>>,
}

#[derive(Debug, Default)]
struct State {
    /// Packages being downloaded or delivered: their description and size.
    packages: BTreeMap<String, (Component, u64, bool)>,
    deployed: BTreeMap<String, DeployedComponent>,
    draw: u64,
}

impl State {
    fn held(&self) -> usize {
        self.packages.values().filter(|(_, _, d)| *d).count() + self.deployed.len()
    }
}

fn result(code: u16) -> ScomoResult {
    ScomoResult::new(code).unwrap_or(ScomoResult::SUCCESSFUL)
}

impl SimulatedComponents {
    /// No component yet.
    pub fn new(simulation: Simulation) -> SimulatedComponents {
        let draw = simulation.seed;
        SimulatedComponents {
            simulation,
            state: Arc::new(Mutex::new(State {
                draw,
                ..State::default()
            })),
        }
    }

    /// Components already installed (active or not), as a device comes
    /// from the factory.
    #[must_use]
    pub fn with_deployed(self, deployed: impl IntoIterator<Item = DeployedComponent>) -> Self {
        {
            let mut state = self.lock();
            for component in deployed {
                state.deployed.insert(component.name.clone(), component);
            }
        }
        self
    }

    /// Packages already delivered (their size unknown: counted as 0).
    #[must_use]
    pub fn with_delivered(self, delivered: impl IntoIterator<Item = Component>) -> Self {
        {
            let mut state = self.lock();
            for component in delivered {
                state
                    .packages
                    .insert(component.name.clone(), (component, 0, true));
            }
        }
        self
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn pause(&self) {
        if !self.simulation.duration.is_zero() {
            std::thread::sleep(self.simulation.duration);
        }
    }

    /// Whether the next install fails by the draw (xorshift64 of the seed).
    fn drawn_failure(&self, state: &mut State) -> bool {
        if self.simulation.fail_percent == 0 {
            return false;
        }
        let mut x = state.draw.max(1);
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        state.draw = x;
        x % 100 < u64::from(self.simulation.fail_percent)
    }

    fn installed(&self, name: &str) -> Result<(), ComponentError> {
        if self.lock().deployed.contains_key(name) {
            Ok(())
        } else {
            Err(ComponentError::new(
                result(1404),
                format!("no installed component {name:?}"),
            ))
        }
    }
}

/// A sink counting the bytes of a simulated package.
struct CountingSink {
    state: Arc<Mutex<State>>,
    name: String,
    limit: u64,
}

impl CountingSink {
    fn with<T>(&self, f: impl FnOnce(&mut u64) -> T) -> Option<T> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state
            .packages
            .get_mut(&self.name)
            .map(|(_, size, _)| f(size))
    }
}

impl PackageSink for CountingSink {
    fn held(&self) -> u64 {
        self.with(|size| *size).unwrap_or(0)
    }

    fn append(&mut self, chunk: &[u8]) -> Result<(), SinkError> {
        let limit = self.limit;
        self.with(|size| {
            let needed = size.saturating_add(chunk.len() as u64);
            if needed > limit {
                return Err(SinkError::Full {
                    needed,
                    room: limit,
                });
            }
            *size = needed;
            Ok(())
        })
        .unwrap_or_else(|| Err(SinkError::Storage("the package was dropped".into())))
    }

    fn discard(&mut self) -> Result<(), SinkError> {
        self.with(|size| *size = 0);
        Ok(())
    }
}

impl SoftwareComponents for SimulatedComponents {
    fn package_sink(&self, component: &Component) -> Result<Box<dyn PackageSink>, ComponentError> {
        let mut state = self.lock();
        if !state.packages.contains_key(&component.name)
            && !state.deployed.contains_key(&component.name)
            && state.held() >= self.simulation.capacity
        {
            return Err(ComponentError::new(
                result(1501),
                format!("{} components held already", state.held()),
            ));
        }
        state
            .packages
            .insert(component.name.clone(), (component.clone(), 0, false));
        Ok(Box::new(CountingSink {
            state: Arc::clone(&self.state),
            name: component.name.clone(),
            limit: self.simulation.max_package_size,
        }))
    }

    fn deliver(&self, component: &Component) -> Result<(), ComponentError> {
        let mut state = self.lock();
        match state.packages.get_mut(&component.name) {
            Some((_, _, delivered)) => {
                *delivered = true;
                Ok(())
            }
            None => Err(ComponentError::new(
                result(1500),
                format!("no package downloaded for {:?}", component.name),
            )),
        }
    }

    fn install(&self, name: &str, active: bool) -> Result<DeployedComponent, ComponentError> {
        self.pause();
        let mut state = self.lock();
        let Some((component, _, true)) = state.packages.get(name).cloned() else {
            return Err(ComponentError::new(
                result(1404),
                format!("no delivered package {name:?}"),
            ));
        };
        if self.drawn_failure(&mut state) {
            return Err(ComponentError::new(result(1410), "simulated failure"));
        }
        if !self.simulation.result.is_success() {
            return Err(ComponentError::new(
                self.simulation.result,
                "simulated result",
            ));
        }
        state.packages.remove(name);
        let version = component
            .pkg_id
            .as_deref()
            .and_then(|id| id.rsplit_once('-'))
            .map(|(_, v)| v)
            .filter(|v| v.starts_with(|c: char| c.is_ascii_digit()))
            .unwrap_or("1.0");
        let deployed = DeployedComponent {
            name: name.to_owned(),
            id: component.pkg_id.clone().unwrap_or_else(|| name.to_owned()),
            pkg_id: component.pkg_id.clone(),
            display_name: component.display_name.clone(),
            version: Some(version.to_owned()),
            description: component.description.clone(),
            active,
        };
        state.deployed.insert(name.to_owned(), deployed.clone());
        Ok(deployed)
    }

    fn discard(&self, name: &str) -> Result<(), ComponentError> {
        self.pause();
        match self.lock().packages.remove(name) {
            Some(_) => Ok(()),
            None => Err(ComponentError::new(
                result(1404),
                format!("no delivered package {name:?}"),
            )),
        }
    }

    fn activate(&self, name: &str) -> Result<(), ComponentError> {
        self.pause();
        self.installed(name)?;
        if let Some(c) = self.lock().deployed.get_mut(name) {
            c.active = true;
        }
        Ok(())
    }

    fn deactivate(&self, name: &str) -> Result<(), ComponentError> {
        self.pause();
        self.installed(name)?;
        if let Some(c) = self.lock().deployed.get_mut(name) {
            c.active = false;
        }
        Ok(())
    }

    fn remove(&self, name: &str) -> Result<(), ComponentError> {
        self.pause();
        self.installed(name)?;
        self.lock().deployed.remove(name);
        Ok(())
    }

    fn delivered(&self) -> Vec<Component> {
        self.lock()
            .packages
            .values()
            .filter(|(_, _, delivered)| *delivered)
            .map(|(c, _, _)| c.clone())
            .collect()
    }

    fn deployed(&self) -> Vec<DeployedComponent> {
        self.lock().deployed.values().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delivered(components: &SimulatedComponents, name: &str) {
        let component = Component {
            name: name.into(),
            ..Component::default()
        };
        let mut sink = components.package_sink(&component).expect("sink");
        sink.append(b"bytes").expect("stored");
        components.deliver(&component).expect("delivered");
    }

    #[test]
    fn capacity_bounds_what_is_held() {
        let components = SimulatedComponents::new(Simulation {
            capacity: 2,
            ..Simulation::default()
        });
        delivered(&components, "a");
        delivered(&components, "b");
        let third = Component {
            name: "c".into(),
            ..Component::default()
        };
        let e = components.package_sink(&third).err().expect("refused");
        assert_eq!(e.result.code(), 1501);
        // Replacing a held component is always possible.
        delivered(&components, "a");
    }

    #[test]
    fn configured_results_and_draws_fail_installs() {
        let components = SimulatedComponents::new(Simulation {
            result: result(1452),
            ..Simulation::default()
        });
        delivered(&components, "a");
        let e = components.install("a", true).expect_err("fails");
        assert_eq!(e.result.code(), 1452);
        assert_eq!(components.delivered().len(), 1, "still delivered");

        let draws = |seed| {
            let components = SimulatedComponents::new(Simulation {
                fail_percent: 50,
                seed,
                ..Simulation::default()
            });
            (0..40)
                .map(|n| {
                    let name = format!("c{n}");
                    delivered(&components, &name);
                    components.install(&name, true).is_ok()
                })
                .collect::<Vec<_>>()
        };
        let first = draws(7);
        assert_eq!(first, draws(7), "the same seed, the same draws");
        let failures = first.iter().filter(|ok| !**ok).count();
        assert!((8..=32).contains(&failures), "{failures} of 40");
    }

    #[test]
    fn operations_on_missing_components_fail() {
        let components = SimulatedComponents::new(Simulation {
            max_package_size: 4,
            ..Simulation::default()
        });
        for e in [
            components.install("x", true).expect_err("install"),
            components.activate("x").expect_err("activate"),
            components.remove("x").expect_err("remove"),
            components.discard("x").expect_err("discard"),
        ] {
            assert_eq!(e.result.code(), 1404);
        }
        let mut sink = components
            .package_sink(&Component {
                name: "big".into(),
                ..Component::default()
            })
            .expect("sink");
        assert!(matches!(
            sink.append(b"12345"),
            Err(SinkError::Full { needed: 5, room: 4 })
        ));
    }
}
