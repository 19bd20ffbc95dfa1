//! The xlingo web app (Yew + WebGPU), built by Trunk from the repository root (Trunk.toml).
//! Natively this binary only explains that: the app needs a browser.

#[cfg(target_family = "wasm")]
mod app;
#[cfg(target_family = "wasm")]
mod chat;
#[cfg(target_family = "wasm")]
mod glue;
#[cfg(target_family = "wasm")]
mod lens;
#[cfg(target_family = "wasm")]
mod model;
#[cfg(target_family = "wasm")]
mod reprs;
#[cfg(target_family = "wasm")]
mod results;
#[cfg(target_family = "wasm")]
mod tune;

#[cfg(target_family = "wasm")]
fn main() {
    show_panics_on_the_page();
    yew::Renderer::<app::App>::new().render();
}

/// A panic ends the app; say so on the page (and in the console) instead of freezing silently.
#[cfg(target_family = "wasm")]
fn show_panics_on_the_page() {
    std::panic::set_hook(Box::new(|info| {
        let message = format!("xlingo stopped because of a bug: {info}");
        web_sys::console::error_1(&message.clone().into());
        if let Some(doc) = web_sys::window().and_then(|w| w.document())
            && let Some(el) = doc.get_element_by_id("fatal")
        {
            el.set_text_content(Some(&format!("{message}\nReload the page to start again.")));
            let _ = el.set_attribute("role", "alert");
            let _ = el.class_list().add_1("shown");
        }
    }));
}

#[cfg(not(target_family = "wasm"))]
fn main() {
    eprintln!("xlingo-web runs in a browser: build and serve it with scripts/demo.sh (Trunk)");
}
