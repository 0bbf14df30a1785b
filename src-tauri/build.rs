// The app's own commands get one permission each (`allow-<command>`); with this manifest Tauri
// refuses any command the window's capability does not allow (see capabilities/default.json).
include!("src/allowlist.rs");

fn main() {
    println!("cargo:rerun-if-changed=src/allowlist.rs");
    if let Err(e) = tauri_build::try_build(
        tauri_build::Attributes::new()
            .app_manifest(tauri_build::AppManifest::new().commands(COMMANDS)),
    ) {
        eprintln!("tauri build step failed: {e:#}");
        std::process::exit(1);
    }
}
