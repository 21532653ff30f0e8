//! The CapRover bundle passes the checks caprover/one-click-apps runs on every app (captainVersion 4,
//! description ≤ 200 characters, both instructions, services, a PNG logo, prettier with the repo's
//! settings), declares every variable it uses, and configures a registry Wharf accepts.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use serde_yaml::Value;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const BUILT_IN: [&str; 3] = ["$$cap_appname", "$$cap_root_domain", "$$cap_gen_random_hex"];

fn template() -> (String, Value) {
    let text = std::fs::read_to_string(Path::new(ROOT).join("one-click-app.yml")).unwrap();
    let value = serde_yaml::from_str(&text).unwrap();
    (text, value)
}

/// The rules of the one-click-apps repository's validate_apps.js, and its "no :latest" review rule.
#[test]
fn repository_rules() {
    let (_, app) = template();
    assert_eq!(app["captainVersion"], Value::from(4));
    let meta = &app["caproverOneClickApp"];
    let description = meta["description"].as_str().expect("description");
    assert!(
        !description.is_empty() && description.chars().count() <= 200,
        "{description}"
    );
    for part in ["start", "end"] {
        assert!(
            meta["instructions"][part]
                .as_str()
                .is_some_and(|s| !s.trim().is_empty()),
            "instructions.{part}"
        );
    }
    let services = app["services"].as_mapping().expect("services");
    assert!(!services.is_empty());
    for (name, service) in services {
        let image = service["image"]
            .as_str()
            .unwrap_or_else(|| panic!("{name:?} has no image"));
        assert!(!image.ends_with(":latest"), "{name:?} uses :latest");
    }
    let logo =
        std::fs::read(Path::new(ROOT).join("caprover/wharf.png")).expect("caprover/wharf.png");
    assert!(logo.starts_with(b"\x89PNG\r\n\x1a\n"), "the logo is a PNG");
}

/// Every `$$cap_` variable the template uses is declared (or built in), each declaration has a label,
/// and every default matches its own validation pattern.
#[test]
fn variables_are_declared_and_valid() {
    let (text, app) = template();
    let declared: Vec<&Value> = app["caproverOneClickApp"]["variables"]
        .as_sequence()
        .unwrap()
        .iter()
        .collect();
    let ids: BTreeSet<&str> = declared.iter().map(|v| v["id"].as_str().unwrap()).collect();
    let used: BTreeSet<String> = text
        .match_indices("$$cap_")
        .map(|(i, _)| {
            text[i..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '$')
                .collect()
        })
        .collect();
    for var in &used {
        assert!(
            ids.contains(var.as_str()) || BUILT_IN.contains(&var.as_str()),
            "{var} is used but not declared"
        );
    }
    for v in declared {
        let id = v["id"].as_str().unwrap();
        assert!(
            id.starts_with("$$cap_") && v["label"].as_str().is_some_and(|l| !l.is_empty()),
            "{id}"
        );
        if let (Some(pattern), Some(default)) =
            (v["validRegex"].as_str(), v["defaultValue"].as_str())
        {
            if default.starts_with("$$cap_gen_random_hex") {
                continue;
            }
            let body = pattern
                .strip_prefix('/')
                .and_then(|p| p.strip_suffix('/'))
                .expect("/regex/");
            let re = regex_lite::Regex::new(body).unwrap_or_else(|e| panic!("{id}: {e}"));
            assert!(
                re.is_match(default),
                "{id}: default {default:?} fails {pattern}"
            );
        }
    }
}

/// The registry service's environment, with the form's defaults, is a configuration Wharf accepts
/// (htpasswd auth with a first user), and the UI reaches the registry by CapRover's internal name.
#[test]
fn services_are_wired() {
    let (_, app) = template();
    let defaults: Vec<(String, String)> = app["caproverOneClickApp"]["variables"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["id"].as_str().unwrap().to_string(),
                v["defaultValue"].as_str().unwrap_or("x").to_string(),
            )
        })
        .collect();
    let fill = |s: &str| {
        let mut s = s
            .replace("$$cap_appname", "registry")
            .replace("$$cap_root_domain", "example.com");
        for (id, default) in &defaults {
            s = s.replace(id, default);
        }
        s
    };
    let registry = &app["services"]["$$cap_appname"];
    let env: Vec<(String, String)> = registry["environment"]
        .as_mapping()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.as_str().unwrap().to_string(), fill(v.as_str().unwrap())))
        .collect();
    assert!(
        env.iter().any(|(k, _)| k == "WHARF_USERNAME")
            && env.iter().any(|(k, _)| k == "WHARF_PASSWORD")
    );
    let config = wharf::config::Config::load(None, wharf::config::RegistryEnv::from_vars(env))
        .unwrap_or_else(|e| panic!("the template's registry environment is refused: {e}"));
    assert!(config.storage.delete.enabled);
    let ui = &app["services"]["$$cap_appname-ui"];
    assert_eq!(ui["command"][0].as_str(), Some("ui"));
    assert_eq!(
        ui["environment"]["NGINX_PROXY_PASS_URL"].as_str(),
        Some("http://srv-captain--$$cap_appname:5000")
    );
    let definition: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(Path::new(ROOT).join("captain-definition")).unwrap(),
    )
    .unwrap();
    assert_eq!(definition["schemaVersion"], 2);
    let dockerfile = definition["dockerfilePath"].as_str().unwrap();
    assert!(Path::new(ROOT).join(dockerfile).is_file(), "{dockerfile}");
}

/// `prettier --check` with the one-click-apps repository's .prettierrc passes on the template.
#[test]
fn prettier_formatting() {
    let prettier = Path::new(ROOT).join("tests/tools/node_modules/.bin/prettier");
    assert!(
        prettier.exists(),
        "prettier not installed: run ./scripts/test (it installs tests/tools)"
    );
    let out = Command::new(prettier)
        .args([
            "--check",
            "--tab-width",
            "4",
            "--single-quote",
            "--no-semi",
            "--trailing-comma",
            "es5",
            "--bracket-spacing",
            "--arrow-parens",
            "always",
        ])
        .arg(Path::new(ROOT).join("one-click-app.yml"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
