//! Every `patchdesk …` command named in a message, hint or doc string of the engine, the CLI, the
//! app or the UI (written between backticks, the house style) exists, with every option it
//! names: checked against the real binary's `--help`.

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            if !p.ends_with("bindings") && !p.ends_with("node_modules") {
                sources(&p, out);
            }
        } else if matches!(
            p.extension().and_then(|x| x.to_str()),
            Some("rs" | "ts" | "svelte")
        ) {
            out.push(p);
        }
    }
}

/// `patchdesk deploy go {id} --override-no-go --reason \"…\"` → (["deploy", "go"],
/// ["--override-no-go", "--reason"]).
fn parse(cmd: &str) -> (Vec<String>, Vec<String>) {
    let tokens: Vec<&str> = cmd.split_whitespace().skip(1).collect();
    let path: Vec<String> = tokens
        .iter()
        .take_while(|t| {
            t.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
                && t.bytes().all(|b| b.is_ascii_lowercase() || b == b'-')
        })
        .map(|t| t.to_string())
        .collect();
    let flags = tokens
        .iter()
        .filter(|t| t.starts_with("--"))
        .map(|t| t.split('=').next().unwrap_or(t).to_string())
        .collect();
    (path, flags)
}

fn named_commands() -> Vec<(String, PathBuf)> {
    let root = repo_root();
    let mut files = Vec::new();
    for d in [
        "crates/patchdesk-engine/src",
        "crates/patchdesk-cli/src",
        "src-tauri/src",
        "ui/src",
    ] {
        sources(&root.join(d), &mut files);
    }
    let mut found = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let mut rest = text.as_str();
        while let Some(i) = rest.find("`patchdesk ") {
            let after = &rest[i + 1..];
            let end = after.find('`').unwrap_or(after.len());
            found.push((after[..end].replace("\\\"", "\""), f.clone()));
            rest = &after[end.min(after.len())..];
        }
    }
    found.sort();
    found.dedup_by(|a, b| a.0 == b.0);
    found
}

fn help(path: &[String]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_patchdesk"))
        .args(path)
        .arg("--help")
        .env("PATCHDESK_DB", "/nonexistent/never-opened.db")
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn every_command_named_in_a_message_exists_with_its_options() {
    let named = named_commands();
    assert!(
        named.len() >= 15,
        "the scan found the commands named in the sources: {named:?}"
    );
    assert!(
        named.iter().any(|(c, _)| c == "patchdesk deploy list"),
        "{named:?}"
    );
    let mut wrong = Vec::new();
    for (cmd, file) in &named {
        let (path, flags) = parse(cmd);
        let (ok, text) = help(&path);
        if !ok {
            wrong.push(format!("{cmd} ({}): no such command", file.display()));
            continue;
        }
        for f in flags {
            let known = text
                .split(|c: char| c.is_whitespace() || c == ',' || c == '[' || c == ']' || c == '<')
                .any(|w| w == f);
            if !known {
                wrong.push(format!("{cmd} ({}): no option {f}", file.display()));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn the_check_can_fail() {
    let (ok, _) = help(&["deploy".into(), "nosuch".into()]);
    assert!(!ok, "an unknown subcommand is refused");
    let (path, flags) = parse("patchdesk host trust {host} --replace");
    assert_eq!(
        (path, flags),
        (
            vec!["host".to_string(), "trust".to_string()],
            vec!["--replace".to_string()]
        )
    );
    let (ok, text) = help(&["host".into(), "trust".into()]);
    assert!(ok && text.contains("--replace") && !text.contains("--no-such-flag"));
}
