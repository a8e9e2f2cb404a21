//! The component's WIT world as the CNCF Wasm config lists it, so a
//! registry client can show what a component imports without downloading
//! it. The same synthesis as bytecodealliance's `oci-wasm`, on the
//! `wit-component` version the rest of the build uses.

use crate::artifact::ComponentWorld;
use crate::error::PackageError;

pub(crate) fn world_of(component: &[u8]) -> Result<ComponentWorld, PackageError> {
    let decoded = wit_component::decode(component).map_err(|e| {
        PackageError::Artifact(format!(
            "the component's WIT world cannot be read ({e:#}); is it a WebAssembly component built by `exorun build`?"
        ))
    })?;
    let wit_component::DecodedWasm::Component(resolve, world) = decoded else {
        return Err(PackageError::Artifact(
            "the file is a WIT package, not a component".to_owned(),
        ));
    };
    let world = &resolve.worlds[world];
    let names = |items: &wit_parser::IndexMap<wit_parser::WorldKey, wit_parser::WorldItem>| {
        items
            .keys()
            .map(|key| resolve.name_world_key(key))
            .collect::<Vec<_>>()
    };
    Ok(ComponentWorld {
        exports: names(&world.exports),
        imports: names(&world.imports),
        target: None,
    })
}
