//! The web console in a real browser (headless Chromium over WebDriver,
//! `dm_test_support::browser`) against a real server: sign in, find a
//! device among 1,000,000, queue a command and watch a real device's
//! result arrive without reloading, start a campaign and watch it advance,
//! and a read-only key that sees no action. Screenshots are kept in
//! `target/console-screenshots/`. Without Chromium (outside CI) each test
//! says how to install it and passes; in CI it fails.
//!
//! The figures (time to first render of the device list and of a device
//! page at 1,000,000 devices) are printed; `cargo test -p dm-e2e --test
//! console -- --nocapture` shows them.

use std::time::{Duration, Instant};

use dm_client::{Credentials, Trigger};
use dm_server::{DeviceRegistration, MemoryStore, ServerOptions, UpdateState};
use dm_test_support::browser::Browser;
use dm_test_support::campaign;
use dm_test_support::device::{self, DEV_ID, SERVER_ID};
use dm_test_support::server::{ADMIN_TOKEN, AdminClient, TestServer};
use dm_types::DevId;
use serde_json::{Value, json};

/// The options of the tests: the admin token, the devices' server id, a
/// campaign driver ticking every 50 ms.
fn options() -> ServerOptions {
    dm_test_support::server::options()
        .server_id(SERVER_ID)
        .campaign_tick(Duration::from_millis(50))
        .build()
        .expect("options")
}

/// Opens the console and signs in with `key`; waits for the device list
/// (or, for the bootstrap role, the profiles).
async fn sign_in(browser: &Browser, base: &str, key: &str) {
    browser.goto(&format!("{base}/console")).await;
    browser
        .wait_for(
            "the sign-in form",
            "return document.activeElement && document.activeElement.id === 'key'",
        )
        .await;
    browser.type_into("#key", key).await;
    browser.press("\u{E007}").await;
    browser
        .wait_for(
            "the signed-in page",
            "return document.querySelector('#account:not([hidden]) #who')?.textContent || null",
        )
        .await;
}

/// The duration of the performance measure `name` in the page (ms).
async fn measure(browser: &Browser, name: &str) -> f64 {
    performance_entry(browser, "measure", name, "duration").await
}

/// When the mark `name` was set, in ms since the page's navigation began.
async fn mark(browser: &Browser, name: &str) -> f64 {
    performance_entry(browser, "mark", name, "startTime").await
}

/// `field` of the newest performance entry of `kind` named `name`, waited
/// for until the page has one.
async fn performance_entry(browser: &Browser, kind: &str, name: &str, field: &str) -> f64 {
    browser
        .wait_for(
            &format!("the {kind} {name}"),
            &format!(
                "const m = performance.getEntriesByName('{name}', '{kind}'); \
                 return m.length ? m[m.length - 1].{field} : null"
            ),
        )
        .await
        .as_f64()
        .expect("a number")
}

/// A real device (`DmClient`, DevID [`DEV_ID`]) registered with Basic
/// credentials.
async fn real_device(server: &TestServer) -> dm_client::DmClient {
    let admin = server.admin();
    let realm = admin.realm().to_owned();
    admin
        .register_device(
            DeviceRegistration::new(DevId::new(DEV_ID).expect("DevID")).with_password(
                "device-1",
                "open sesame",
                &realm,
            ),
            false,
        )
        .await
        .expect("registered");
    device::client(
        &server.base,
        Credentials::Basic {
            username: "device-1".into(),
            password: "open sesame".into(),
        },
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_operator_finds_a_device_among_a_million_and_watches_a_command_finish() {
    let Some(browser) = Browser::start(1280, 800).await else {
        return;
    };
    let store = MemoryStore::new();
    let seeding = Instant::now();
    dm_test_support::seed::seed_devices(&store, 1_000_000)
        .await
        .expect("seeded");
    eprintln!("seeded 1,000,000 devices in {:?}", seeding.elapsed());
    let server = TestServer::start_on(options(), store).await;
    let mut device = real_device(&server).await;
    let report = device
        .run_session(&device::server_id(), Trigger::Client)
        .await
        .expect("first session");
    assert!(report.completed(), "{report}");

    // A wrong key is refused on the sign-in form, which keeps the focus.
    browser.goto(&server.url("/console")).await;
    browser
        .wait_for("the sign-in form", "return document.querySelector('#key')")
        .await;
    browser.type_into("#key", "not the token").await;
    browser.press("\u{E007}").await;
    let refused = browser
        .wait_for(
            "the refusal",
            "const m = document.querySelector('#sign-in-messages.error'); return m && m.textContent",
        )
        .await;
    assert!(
        refused.as_str().unwrap_or("").contains("refused"),
        "{refused}"
    );
    assert_eq!(
        browser
            .execute("return document.activeElement.id", vec![])
            .await,
        "key"
    );

    sign_in(&browser, &server.base, ADMIN_TOKEN).await;
    let first = browser
        .wait_for(
            "the first page of devices",
            "const s = document.querySelector('#devices-status'); \
             return document.querySelectorAll('tr[data-dev-id]').length === 50 && s.textContent",
        )
        .await;
    assert!(
        first.as_str().unwrap_or("").contains("1,000,001 devices"),
        "{first}"
    );
    // Time to first render of the device list: a fresh load of the page
    // (signed in: the key is in the tab's sessionStorage).
    browser.goto("about:blank").await;
    browser.goto(&server.url("/console/#/devices")).await;
    let list_since_navigation = mark(&browser, "dm:devices-rendered").await;
    let list_fetch_and_render = measure(&browser, "dm:devices").await;
    browser.screenshot("devices-1280").await;

    // Next page, then search by the start of the DevID.
    browser.click("a[rel=next]").await;
    browser
        .wait_for(
            "the second page",
            "return document.querySelector('tr[data-dev-id=\"IMEI:000000000000050\"]')",
        )
        .await;
    browser.type_into("#device-prefix", "IMEI:4930051").await;
    browser.press("\u{E007}").await;
    browser
        .wait_for(
            "the search result",
            &format!(
                "const rows = document.querySelectorAll('tr[data-dev-id]'); \
                 return rows.length === 1 && rows[0].dataset.devId === '{DEV_ID}'"
            ),
        )
        .await;

    // The device page, opened from the list.
    browser.click("tr[data-dev-id] a").await;
    let device_fetch_and_render = measure(&browser, "dm:device").await;
    browser
        .wait_for(
            "the device page with its MO inventory",
            "return document.querySelector('#mos-title') && document.activeElement.tagName === 'H1'",
        )
        .await;
    // A fresh load of the device page.
    browser.goto("about:blank").await;
    browser
        .goto(&server.url(&format!(
            "/console/#/devices/{}",
            DEV_ID.replace(':', "%3A")
        )))
        .await;
    let device_since_navigation = mark(&browser, "dm:device-rendered").await;
    println!(
        "console at 1,000,001 devices: device list first render {list_since_navigation:.0} ms after \
         navigation ({list_fetch_and_render:.0} ms fetch and render); device page \
         {device_since_navigation:.0} ms after navigation ({device_fetch_and_render:.0} ms fetch and \
         render from the list)"
    );

    // The form checks a command before sending it...
    browser
        .wait_for(
            "the command form",
            "return document.querySelector('#command-params')",
        )
        .await;
    browser
        .execute("window.dmNotReloaded = true; return true", vec![])
        .await;
    browser.click("button[type=submit]").await;
    let local = browser
        .wait_for(
            "the form's own refusal",
            "const m = document.querySelector('#command-messages.error'); return m && m.textContent",
        )
        .await;
    assert!(
        local
            .as_str()
            .unwrap_or("")
            .contains("GET needs at least 1"),
        "{local}"
    );
    // ... and shows the server's message when the server refuses it.
    browser
        .type_into("#command-params", "urn:oma:mo:oma-dm-devinfo:1.0/devinfo")
        .await;
    browser
        .click("form[aria-labelledby=queue-title] button")
        .await;
    let remote = browser
        .wait_for(
            "the server's refusal",
            "const m = document.querySelector('#command-messages.error'); \
             return m && m.textContent.includes('(400)') && m.textContent",
        )
        .await;
    assert!(
        remote.as_str().unwrap_or("").contains("ClientURI"),
        "{remote}"
    );
    assert_eq!(
        browser
            .execute("return document.activeElement.id", vec![])
            .await,
        "command-params"
    );

    // A GET queued from the form is pending; the device's next session
    // runs it and the result appears without a reload.
    browser
        .type_into("#command-params", "urn:oma:mo:oma-dm-devinfo:1.0//Man")
        .await;
    browser
        .click("form[aria-labelledby=queue-title] button")
        .await;
    let queued = browser
        .wait_for(
            "the queued command",
            "const row = document.querySelector('tr[data-command-id][data-state=queued]'); \
             return row && row.dataset.commandId",
        )
        .await;
    let id = queued.as_str().expect("id").to_owned();
    let report = device
        .run_session(&device::server_id(), Trigger::Client)
        .await
        .expect("second session");
    assert!(report.completed(), "{report}");
    let result = browser
        .wait_for(
            "the command's result",
            &format!(
                "const row = document.querySelector('tr[data-command-id=\"{id}\"][data-state=done]'); \
                 return row && row.textContent"
            ),
        )
        .await;
    let result = result.as_str().unwrap_or("");
    assert!(result.contains("200"), "{result}");
    assert!(result.contains("Data (1 item)"), "{result}");
    assert_eq!(
        browser
            .execute("return window.dmNotReloaded === true", vec![])
            .await,
        true,
        "the page was reloaded"
    );
    browser.screenshot("device-1280").await;

    // A phone's width: the same page, one column, no horizontal scrolling.
    browser.set_window_size(390, 844).await;
    browser
        .wait_for("the narrow layout", "return window.innerWidth <= 400")
        .await;
    let overflow = browser
        .execute(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth",
            vec![],
        )
        .await;
    assert!(
        overflow.as_i64().unwrap_or(1) <= 0,
        "scrolls sideways by {overflow}"
    );
    browser.screenshot("device-390").await;
    browser.goto(&server.url("/console/#/devices")).await;
    browser
        .wait_for(
            "the device list",
            "return document.querySelectorAll('tr[data-dev-id]').length === 50",
        )
        .await;
    let overflow = browser
        .execute(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth",
            vec![],
        )
        .await;
    assert!(
        overflow.as_i64().unwrap_or(1) <= 0,
        "scrolls sideways by {overflow}"
    );
    browser.screenshot("devices-390").await;
    browser.quit().await;
}

/// Waits until the console announced (to screen readers) `text`: the
/// announcements of command results come from events only.
async fn announced(browser: &Browser, text: &str) {
    browser
        .wait_for(
            &format!("the announcement {text:?}"),
            &format!(
                "return document.querySelector('#announcer').textContent.includes({})",
                json!(text)
            ),
        )
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_event_stream_resumes_after_a_cut_with_last_event_id() {
    let Some(browser) = Browser::start(1280, 800).await else {
        return;
    };
    let server = TestServer::start_on(options(), MemoryStore::new()).await;
    let mut device = real_device(&server).await;
    // The browser reaches the server through a proxy the test cuts; the
    // device and the test do not.
    let address = server
        .base
        .trim_start_matches("http://")
        .parse()
        .expect("address");
    let proxy = dm_test_support::proxy::Proxy::start(&[address]);
    let admin = AdminClient::new(&server.base);
    let path = format!("/admin/devices/{}/commands", DEV_ID.replace(':', "%3A"));
    let queue = || async {
        let (status, body) = admin
            .post(
                &path,
                json!({"command": ["GET", "urn:oma:mo:oma-dm-devinfo:1.0//Man"]}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        body["id"].as_str().expect("id").to_owned()
    };

    sign_in(&browser, &proxy.url(), ADMIN_TOKEN).await;
    browser
        .goto(&format!(
            "{}/console/#/devices/{}",
            proxy.url(),
            DEV_ID.replace(':', "%3A")
        ))
        .await;
    browser
        .wait_for(
            "the live stream",
            "return document.querySelector('#connection[data-state=live]')",
        )
        .await;
    // A first result arrives through the stream (the console has seen an
    // event id).
    let first = queue().await;
    let report = device
        .run_session(&device::server_id(), Trigger::Client)
        .await
        .expect("session");
    assert!(report.completed(), "{report}");
    announced(
        &browser,
        &format!("Command {first} (GET) done with status 200"),
    )
    .await;

    // Cut: the stream breaks and the console tries again; meanwhile a
    // second command finishes.
    proxy.cut();
    browser
        .wait_for(
            "the console reconnecting",
            "return document.querySelector('#connection[data-state=reconnecting]')",
        )
        .await;
    let second = queue().await;
    let report = device
        .run_session(&device::server_id(), Trigger::Client)
        .await
        .expect("session");
    assert!(report.completed(), "{report}");
    proxy.heal();
    // Resumed from the last id seen: the event of the second result comes
    // (a fresh stream would start after it, and announce nothing).
    announced(
        &browser,
        &format!("Command {second} (GET) done with status 200"),
    )
    .await;
    browser
        .wait_for(
            "the second result on the page",
            &format!(
                "return document.querySelector('tr[data-command-id=\"{second}\"][data-state=done]')"
            ),
        )
        .await;
    browser
        .wait_for(
            "the live stream again",
            "return document.querySelector('#connection[data-state=live]')",
        )
        .await;
    browser.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_campaign_started_in_the_console_advances_live() {
    let Some(browser) = Browser::start(1280, 800).await else {
        return;
    };
    let server = TestServer::start_on(options(), MemoryStore::new()).await;
    let devices = campaign::fleet(&server, 2).await;
    sign_in(&browser, &server.base, ADMIN_TOKEN).await;
    browser.click("#nav a[href='#/campaigns']").await;
    browser
        .wait_for(
            "the campaign form with the artifact and the group",
            "return document.querySelector('#campaign-artifact option[value=\"fw-2\"]') \
             && document.querySelector('#campaign-group option[value=\"all\"]')",
        )
        .await;
    // A wrong stage size is caught by the form.
    browser.type_into("#campaign-stages", "50, 0").await;
    browser
        .click("form[aria-labelledby=create-title] button")
        .await;
    browser
        .wait_for(
            "the form's refusal",
            "const m = document.querySelector('#create-messages.error'); return m && m.textContent",
        )
        .await;
    browser
        .type_into("#campaign-name", "fw 2.0 from the console")
        .await;
    browser.type_into("#campaign-stages", "50, 100").await;
    browser
        .execute(
            "const s = document.querySelector('#campaign-advance'); s.value = 'approval'; return true",
            vec![],
        )
        .await;
    browser.type_into("#campaign-rate", "1000").await;
    browser
        .click("form[aria-labelledby=create-title] button")
        .await;
    let id = browser
        .wait_for(
            "the campaign's page",
            "const m = location.hash.match(/^#\\/campaigns\\/(\\d+)$/); \
             return m && document.querySelector('[data-fact=status]') && m[1]",
        )
        .await;
    let id: u64 = id.as_str().expect("id").parse().expect("number");
    browser
        .execute("window.dmNotReloaded = true; return true", vec![])
        .await;
    let admin = AdminClient::new(&server.base);

    // Paused from the console, then resumed.
    browser.click("button[data-action=pause]").await;
    browser
        .wait_for(
            "the paused campaign",
            "return document.querySelector('[data-fact=status]').textContent.startsWith('paused') \
             && document.querySelector('button[data-action=resume]')",
        )
        .await;
    assert_eq!(campaign::status_of(&admin, id).await, "paused");
    browser.click("button[data-action=resume]").await;
    campaign::wait_status(&admin, id, "running").await;

    // The first stage's device updates; the page shows it and waits for
    // approval.
    campaign::wait_state(&server, id, &devices[0], UpdateState::Notified).await;
    campaign::run_update(&server, &devices[0]).await;
    browser
        .wait_for(
            "the first stage done, waiting for approval",
            "const s = document.querySelector('li[data-stage=\"0\"]'); \
             return s && s.dataset.succeeded === '1' \
             && document.querySelector('[data-fact=status]').textContent === 'waiting approval' \
             && document.querySelector('button[data-action=approve]')",
        )
        .await;
    browser.screenshot("campaign-waiting-1280").await;
    browser.click("button[data-action=approve]").await;
    campaign::wait_status(&admin, id, "running").await;
    campaign::wait_state(&server, id, &devices[1], UpdateState::Notified).await;
    campaign::run_update(&server, &devices[1]).await;
    browser
        .wait_for(
            "the completed campaign",
            "const s = document.querySelector('li[data-stage=\"1\"]'); \
             return s && s.dataset.succeeded === '1' \
             && document.querySelector('[data-fact=status]').textContent === 'completed'",
        )
        .await;
    assert_eq!(
        browser
            .execute("return window.dmNotReloaded === true", vec![])
            .await,
        true,
        "the page was reloaded"
    );
    assert_eq!(
        browser
            .execute(
                "return document.querySelectorAll('button[data-action]').length",
                vec![]
            )
            .await,
        0,
        "no action applies to a completed campaign"
    );
    browser.screenshot("campaign-completed-1280").await;
    browser.set_window_size(390, 844).await;
    browser
        .wait_for("the narrow layout", "return window.innerWidth <= 400")
        .await;
    browser.screenshot("campaign-completed-390").await;
    browser.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_read_key_sees_no_action() {
    let Some(browser) = Browser::start(1280, 800).await else {
        return;
    };
    let server = TestServer::start_on(options(), MemoryStore::new()).await;
    let _devices = campaign::fleet(&server, 1).await;
    let admin = AdminClient::new(&server.base);
    let (status, key) = admin
        .post("/admin/keys", json!({"name": "auditor", "scope": "read"}))
        .await;
    assert_eq!(status, 201, "{key}");
    let key_id = key["id"].as_str().expect("key id").to_owned();
    let key = key["key"].as_str().expect("key").to_owned();
    let spec = campaign::spec(json!([{"size": {"percent": 100}}]), Value::Null);
    let id = campaign::create(&admin, spec).await;

    sign_in(&browser, &server.base, &key).await;
    let who = browser.text("#who").await;
    assert_eq!(who, "auditor (read)");
    browser
        .goto(&server.url("/console/#/devices/IMEI%3A350000"))
        .await;
    browser
        .wait_for(
            "the device page",
            "return document.querySelector('#mos-title')",
        )
        .await;
    let actions =
        "return document.querySelectorAll('form button, button[data-action], #notify').length";
    assert_eq!(browser.execute(actions, vec![]).await, 0);
    browser
        .goto(&server.url(&format!("/console/#/campaigns/{id}")))
        .await;
    browser
        .wait_for(
            "the campaign page",
            "return document.querySelector('[data-fact=status]')",
        )
        .await;
    assert_eq!(browser.execute(actions, vec![]).await, 0);
    browser.goto(&server.url("/console/#/campaigns")).await;
    browser
        .wait_for(
            "the campaign list",
            "return document.querySelector('tr[data-campaign-id]')",
        )
        .await;
    assert_eq!(browser.execute(actions, vec![]).await, 0);
    browser.screenshot("campaigns-read-scope-1280").await;

    // The key revoked, the next request signs the operator out.
    let (status, _) = admin
        .call(
            reqwest::Method::DELETE,
            &format!("/admin/keys/{key_id}"),
            None,
        )
        .await;
    assert_eq!(status, 204);
    browser.goto(&server.url("/console/#/devices")).await;
    browser
        .wait_for(
            "the sign-in form again",
            "const m = document.querySelector('#sign-in-messages.error'); return m && m.textContent",
        )
        .await;
    browser.quit().await;
}
