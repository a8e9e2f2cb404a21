//! Host bindings generated from `wit/automation.wit`, the single source of
//! truth for the plugin contract.

wasmtime::component::bindgen!({
    path: "../../wit",
    world: "automation",
    imports: { default: async | trappable },
    exports: { default: async },
    with: {
        "exorun:automation/cmdlets.pages": crate::pages::PageReader,
    },
});
