//! On wasm32 (run by wasm-bindgen-test-runner in Node, where there is no DOM): the charts
//! draw without a browser (plotters' wasm32 text measurement, which needs `window`, is never
//! reached) and give the same bytes as natively (`tests/golden`, checked by `tests/golden.rs`).
//!
//! `cargo test -p xlingo-plots --target wasm32-unknown-unknown --test wasm`
#![cfg(target_family = "wasm")]

mod common;

use wasm_bindgen_test::wasm_bindgen_test;

#[wasm_bindgen_test]
fn charts_render_without_a_dom_and_match_native_output() {
    let golden = [
        ("line", include_str!("golden/line.svg")),
        ("scatter", include_str!("golden/scatter.svg")),
        ("bars", include_str!("golden/bars.svg")),
        ("scaling", include_str!("golden/scaling.svg")),
    ];
    let rendered = common::rendered();
    assert_eq!(rendered.len(), golden.len());
    for ((name, svg), (golden_name, golden_svg)) in rendered.iter().zip(golden) {
        assert_eq!(*name, golden_name);
        assert!(
            svg == golden_svg,
            "{name}: wasm32 output differs from tests/golden/{name}.svg"
        );
    }
}

#[wasm_bindgen_test]
fn errors_name_the_series_on_wasm_too() {
    let mut chart = common::line();
    chart.series[0].points[1].1 = f64::NAN;
    let msg = xlingo_plots::line_chart(&chart).unwrap_err().to_string();
    assert!(msg.contains("en–es"), "{msg}");
}
