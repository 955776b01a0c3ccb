//! A real browser for tests of the web console: headless Chromium driven
//! over the W3C WebDriver protocol (JSON over HTTP) through `chromedriver`,
//! both from the distribution (`apt-get install chromium chromium-driver`
//! on Debian). [`Browser::start`] finds them on `PATH` (or where
//! `DM_CHROMEDRIVER` and `DM_CHROMIUM` say); without them a test is
//! skipped with a message saying how to install them, except in CI (`CI`
//! set), where it fails.
//!
//! Tests wait for the page by polling its state ([`Browser::wait_for`]),
//! never by sleeping a fixed time, and keep screenshots
//! ([`Browser::screenshot`]) in `target/console-screenshots/`.
//!
//! ```no_run
//! # async fn example() {
//! use dm_test_support::browser::Browser;
//!
//! let Some(browser) = Browser::start(1280, 800).await else { return };
//! browser.goto("http://127.0.0.1:8080/console/").await;
//! browser.wait_for("the sign-in form", "return document.querySelector('#key') !== null").await;
//! browser.type_into("#key", "dmk_...").await;
//! browser.screenshot("sign-in").await;
//! browser.quit().await;
//! # }
//! ```

use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};

/// How long [`Browser::wait_for`] waits by default.
pub const WAIT: Duration = Duration::from_secs(10);

/// The install hint of the skip message and of the CI failure.
const INSTALL: &str = "install Chromium and its WebDriver (Debian: `apt-get install -y chromium \
                       chromium-driver`), or name them with DM_CHROMIUM and DM_CHROMEDRIVER";

/// A headless Chromium in one WebDriver session; the driver process is
/// killed when it is dropped.
pub struct Browser {
    http: reqwest::Client,
    /// `http://127.0.0.1:<port>/session/<id>`.
    session: String,
    driver: Child,
}

impl Drop for Browser {
    fn drop(&mut self) {
        // chromedriver ends its Chromium only on a clean quit (`quit`);
        // after a test panicked, the driver's process group (the driver,
        // Chromium and its helpers) is killed.
        kill_group(&mut self.driver);
    }
}

/// Kills the process group `child` leads, then reaps `child`.
fn kill_group(child: &mut Child) {
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{}", child.id())])
        .stderr(Stdio::null())
        .status();
    let _ = child.kill();
    let _ = child.wait();
}

/// The first of `names` found as an executable on `PATH`.
fn on_path(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |name| dir.join(name)))
        .find(|candidate| candidate.is_file())
}

/// Where the distribution's Chromium and chromedriver are, if anywhere.
pub fn find_chromium() -> Option<(PathBuf, PathBuf)> {
    let driver = std::env::var_os("DM_CHROMEDRIVER")
        .map(PathBuf::from)
        .or_else(|| on_path(&["chromedriver"]))?;
    let chromium = std::env::var_os("DM_CHROMIUM")
        .map(PathBuf::from)
        .or_else(|| on_path(&["chromium", "chromium-browser", "google-chrome"]))?;
    Some((chromium, driver))
}

/// The directory screenshots are kept in (`target/console-screenshots/`
/// of the workspace, or of `CARGO_TARGET_DIR`).
pub fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .parent()
                .expect("the workspace holds dm-test-support")
                .join("target")
        },
        PathBuf::from,
    );
    target.join("console-screenshots")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free loopback port")
        .port()
}

impl Browser {
    /// Starts chromedriver and a headless Chromium with a window of
    /// `width`×`height`. `None` (after printing why and how to install
    /// them) when they are missing outside CI; in CI a missing browser
    /// fails the test.
    pub async fn start(width: u32, height: u32) -> Option<Browser> {
        let Some((chromium, driver)) = find_chromium() else {
            assert!(
                std::env::var_os("CI").is_none(),
                "no Chromium or chromedriver, and CI is set: {INSTALL}"
            );
            eprintln!("SKIPPED: the console's browser tests need Chromium: {INSTALL}");
            return None;
        };
        let port = free_port();
        // A process group of its own: Chromium and its helpers join it,
        // and it is killed whole if the test ends without `quit`.
        let mut child = Command::new(&driver)
            .process_group(0)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{} does not start: {e}", driver.display()));
        let http = crate::admin_api::http_client();
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let ready = http.get(format!("{base}/status")).send().await.ok();
            if let Some(response) = ready
                && let Ok(body) = response.bytes().await
                && let Ok(status) = serde_json::from_slice::<Value>(&body)
                && status["value"]["ready"] == true
            {
                break;
            }
            if let Ok(Some(exit)) = child.try_wait() {
                panic!("{} exited: {exit}", driver.display());
            }
            assert!(Instant::now() < deadline, "chromedriver not ready in 10 s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "pageLoadStrategy": "normal",
            "goog:chromeOptions": {
                "binary": chromium.to_string_lossy(),
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu",
                    "--disable-dev-shm-usage", "--no-first-run", "--no-default-browser-check",
                    "--disable-extensions", "--disable-background-networking",
                    "--hide-scrollbars", "--force-device-scale-factor=1",
                    format!("--window-size={width},{height}"),
                ],
            },
        }}});
        let created = http
            .post(format!("{base}/session"))
            .header("Content-Type", "application/json")
            .body(capabilities.to_string())
            .timeout(Duration::from_secs(30))
            .send()
            .await
            .expect("chromedriver answers")
            .bytes()
            .await
            .expect("an answer");
        let created: Value = serde_json::from_slice(&created).expect("JSON");
        let id = created["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebDriver session: {created}"))
            .to_owned();
        let browser = Browser {
            http,
            session: format!("{base}/session/{id}"),
            driver: child,
        };
        browser.set_window_size(width, height).await;
        Some(browser)
    }

    /// One WebDriver command; its `value`. A WebDriver error panics with
    /// its message.
    async fn command(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        self.try_command(method, path, body)
            .await
            .unwrap_or_else(|message| panic!("{message}"))
    }

    /// One WebDriver command; its `value`, or the WebDriver error.
    async fn try_command(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, String> {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.session))
            .timeout(Duration::from_secs(30));
        if let Some(body) = body {
            request = request
                .header("Content-Type", "application/json")
                .body(body.to_string());
        }
        let response = request.send().await.expect("chromedriver answers");
        let status = response.status();
        let answer: Value = serde_json::from_slice(&response.bytes().await.expect("an answer"))
            .expect("WebDriver JSON");
        if !status.is_success() {
            return Err(format!(
                "WebDriver {path}: {status}: {}",
                answer["value"]["message"]
            ));
        }
        Ok(answer["value"].clone())
    }

    /// Opens `url` and waits for the page to load.
    pub async fn goto(&self, url: &str) {
        self.command(reqwest::Method::POST, "/url", Some(json!({ "url": url })))
            .await;
    }

    /// Sets the viewport (the window's inner size) to `width`×`height` CSS
    /// pixels: the window's outer size is that plus what the browser's own
    /// parts take.
    pub async fn set_window_size(&self, width: u32, height: u32) {
        let mut outer = (i64::from(width), i64::from(height));
        for _ in 0..3 {
            self.command(
                reqwest::Method::POST,
                "/window/rect",
                Some(json!({"width": outer.0, "height": outer.1})),
            )
            .await;
            let inner = self
                .execute("return [window.innerWidth, window.innerHeight]", Vec::new())
                .await;
            let (w, h) = (
                inner[0].as_i64().unwrap_or(0),
                inner[1].as_i64().unwrap_or(0),
            );
            if (w, h) == (i64::from(width), i64::from(height)) {
                return;
            }
            outer = (
                outer.0 + i64::from(width) - w,
                outer.1 + i64::from(height) - h,
            );
        }
    }

    /// Runs `script` (a function body; `arguments` are `args`) in the page
    /// and returns what it returns.
    pub async fn execute(&self, script: &str, args: Vec<Value>) -> Value {
        self.command(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({"script": script, "args": args})),
        )
        .await
    }

    /// Polls `script` until it returns something other than `false`,
    /// `null` or `undefined` (every 25 ms, [`WAIT`] at most), and returns
    /// that; panics naming `what` (and the page's text) when time is up.
    pub async fn wait_for(&self, what: &str, script: &str) -> Value {
        self.wait_for_within(what, script, WAIT).await
    }

    /// [`Browser::wait_for`] with another time limit.
    pub async fn wait_for_within(&self, what: &str, script: &str, limit: Duration) -> Value {
        let deadline = Instant::now() + limit;
        loop {
            let value = self.execute(script, Vec::new()).await;
            if !(value.is_null() || value == false) {
                return value;
            }
            if Instant::now() > deadline {
                let text = self
                    .execute("return document.body.innerText", Vec::new())
                    .await;
                let shot = self.screenshot(&format!("timeout-{}", slug(what))).await;
                panic!(
                    "timed out after {limit:?} waiting for {what} (screenshot {}); the page says:\n{}",
                    shot.display(),
                    text.as_str().unwrap_or("")
                );
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// The element `css` selects (the first), as a WebDriver reference.
    async fn element(&self, css: &str) -> Value {
        let found = self
            .command(
                reqwest::Method::POST,
                "/element",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await;
        found
            .as_object()
            .and_then(|o| o.values().next())
            .cloned()
            .unwrap_or_else(|| panic!("no element {css}"))
    }

    /// Clicks the element `css` selects, as a user does (the WebDriver
    /// click: scrolled into view, and refused when something covers it).
    /// The page may redraw the element between finding and clicking it
    /// (a live update): then it is found again.
    pub async fn click(&self, css: &str) {
        let deadline = Instant::now() + WAIT;
        loop {
            let id = self.element(css).await;
            let id = id.as_str().expect("element id");
            match self
                .try_command(
                    reqwest::Method::POST,
                    &format!("/element/{id}/click"),
                    Some(json!({})),
                )
                .await
            {
                Ok(_) => return,
                Err(message) if message.contains("stale element") && Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(25)).await;
                }
                Err(message) => panic!("click on {css}: {message}"),
            }
        }
    }

    /// Types `text` into the element `css` selects (after clearing it), as
    /// key presses.
    pub async fn type_into(&self, css: &str, text: &str) {
        let id = self.element(css).await;
        let id = id.as_str().expect("element id");
        self.command(
            reqwest::Method::POST,
            &format!("/element/{id}/clear"),
            Some(json!({})),
        )
        .await;
        self.command(
            reqwest::Method::POST,
            &format!("/element/{id}/value"),
            Some(json!({ "text": text })),
        )
        .await;
    }

    /// Presses keys (WebDriver key codes, e.g. `"\u{E007}"` for Enter) in
    /// the focused element.
    pub async fn press(&self, keys: &str) {
        let actions: Vec<Value> = keys
            .chars()
            .flat_map(|c| {
                [
                    json!({"type": "keyDown", "value": c.to_string()}),
                    json!({"type": "keyUp", "value": c.to_string()}),
                ]
            })
            .collect();
        self.command(
            reqwest::Method::POST,
            "/actions",
            Some(json!({"actions": [{"type": "key", "id": "keyboard", "actions": actions}]})),
        )
        .await;
        self.command(reqwest::Method::DELETE, "/actions", None)
            .await;
    }

    /// The visible text of the element `css` selects.
    pub async fn text(&self, css: &str) -> String {
        let id = self.element(css).await;
        let id = id.as_str().expect("element id");
        self.command(reqwest::Method::GET, &format!("/element/{id}/text"), None)
            .await
            .as_str()
            .unwrap_or("")
            .to_owned()
    }

    /// Saves a screenshot of the window as `<name>.png` in
    /// [`screenshot_dir`]; its path.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let data = self
            .command(reqwest::Method::GET, "/screenshot", None)
            .await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(data.as_str().unwrap_or(""))
            .expect("a base64 PNG");
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir).expect("screenshot directory");
        let path = dir.join(format!("{}.png", slug(name)));
        std::fs::write(&path, png).expect("screenshot written");
        path
    }

    /// Ends the session (Chromium exits) and the driver.
    pub async fn quit(mut self) {
        let _ = self
            .http
            .delete(&self.session)
            .timeout(Duration::from_secs(10))
            .send()
            .await;
        kill_group(&mut self.driver);
    }
}

/// `name` as a file name: letters, digits and `-`.
fn slug(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}
