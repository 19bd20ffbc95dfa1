//! The Representations view: type translations of the same sentences in several languages,
//! and see how alike the model's hidden states of translations are, layer by layer.
//!
//! The sentences run through the chat's own engine (the weights are not uploaded twice): the
//! engine records the residual stream after the embedding and after every layer while this
//! runs ([`Engine::set_capture_hidden`]), each layer is pooled as `xlingo analyze` pools it
//! (mean over the tokens, and the last token), and `xlingo_eval::repr` computes the same
//! statistics; the charts are those of the Results view for an analysis.json.

use std::rc::Rc;

use serde_json::json;
use tokenizers::Tokenizer;
use web_sys::{HtmlInputElement, HtmlTextAreaElement};
use xlingo_eval::repr::{LanguageStates, ReprAnalysis, ReprOptions, analyze};
use xlingo_gpu::{Engine, Want};
use xlingo_plots::figures::{FigureWithTable, Outputs};
use yew::prelude::*;

/// One language's sentences as typed: (code, one sentence per line).
pub type Typed = Vec<(String, String)>;

/// Sentences to analyse: (language code, sentences), sentence i of every language aligned.
pub type Request = Vec<(String, Vec<String>)>;

/// An analysis, ready to show.
#[derive(Debug, PartialEq)]
pub struct Computed {
    /// The analysis.json `xlingo analyze` would write for these sentences.
    pub json: String,
    pub by_mean: ReprAnalysis,
    pub by_last: ReprAnalysis,
    pub figures: Vec<FigureWithTable>,
}

/// What the App tells the view.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReprState {
    /// (sentences done, sentences in all) while computing.
    pub progress: Option<(usize, usize)>,
    pub error: Option<String>,
    pub result: Option<Rc<Computed>>,
}

/// The lines of every language, checked: at least two languages with distinct codes, the
/// same number of sentences (at least two) in each. Blank lines are ignored.
pub fn parse(typed: &Typed) -> Result<Request, String> {
    let langs: Request = typed
        .iter()
        .map(|(code, text)| {
            let lines = text
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .collect();
            (code.trim().to_owned(), lines)
        })
        .collect();
    if langs.len() < 2 {
        return Err("Give sentences in at least two languages.".into());
    }
    for (i, (code, _)) in langs.iter().enumerate() {
        if code.is_empty() {
            return Err(format!("Language {} has no code.", i + 1));
        }
        if langs[..i].iter().any(|(c, _)| c == code) {
            return Err(format!("Language `{code}` is given twice."));
        }
    }
    let (first, n) = (&langs[0].0, langs[0].1.len());
    if n < 2 {
        return Err(format!(
            "`{first}` has {n} sentence(s); give at least two (one per line)."
        ));
    }
    if let Some((code, lines)) = langs.iter().find(|(_, l)| l.len() != n) {
        return Err(format!(
            "`{code}` has {} sentences but `{first}` has {n}: line i of every language must translate line i.",
            lines.len()
        ));
    }
    Ok(langs)
}

/// Run every sentence through `engine` and analyse the pooled states. The engine comes back
/// (capture off, cache empty) whatever happens.
pub async fn compute(
    mut engine: Box<Engine>,
    tokenizer: Rc<Tokenizer>,
    model: String,
    request: Request,
    on_progress: impl Fn(usize, usize),
) -> (Box<Engine>, Result<Rc<Computed>, String>) {
    if let Err(e) = engine.set_capture_hidden(true) {
        return (engine, Err(e.to_string()));
    }
    let pooled = pool_all(&mut engine, &tokenizer, &request, on_progress).await;
    // Switching capture off only frees its buffer: it cannot fail.
    engine.set_capture_hidden(false).ok();
    engine.reset();
    let result = pooled.and_then(|(mean, last)| analyse(&model, &request, &mean, &last));
    (engine, result.map(Rc::new))
}

type Pooled = (Vec<LanguageStates>, Vec<LanguageStates>);

async fn pool_all(
    engine: &mut Engine,
    tokenizer: &Tokenizer,
    request: &Request,
    on_progress: impl Fn(usize, usize),
) -> Result<Pooled, String> {
    let total: usize = request.iter().map(|(_, s)| s.len()).sum();
    let layers = engine.config().n_layers + 1;
    let (mut mean, mut last) = (Vec::new(), Vec::new());
    let mut done = 0;
    for (code, sentences) in request {
        let mut m = vec![Vec::new(); layers];
        let mut t = vec![Vec::new(); layers];
        for sentence in sentences {
            on_progress(done, total);
            // The same ids as `xlingo analyze`: the tokenizer's special tokens included.
            let ids = tokenizer
                .encode(sentence.as_str(), true)
                .map_err(|e| format!("tokenizer: {e}"))?
                .get_ids()
                .to_vec();
            if ids.is_empty() {
                return Err(format!("`{code}`: {sentence:?} has no tokens"));
            }
            engine.reset();
            let out = engine
                .forward(&ids, Want::Nothing)
                .await
                .map_err(|e| format!("`{code}`: {sentence:?}: {e}"))?;
            for (layer, states) in out.hidden.iter().enumerate() {
                let (mean_row, last_row) = pool(states, ids.len());
                m[layer].push(mean_row);
                t[layer].push(last_row);
            }
            done += 1;
        }
        mean.push(LanguageStates {
            language: code.clone(),
            layers: m,
        });
        last.push(LanguageStates {
            language: code.clone(),
            layers: t,
        });
    }
    on_progress(done, total);
    Ok((mean, last))
}

/// The mean over the tokens and the last token of one layer's [tokens, d] states.
fn pool(states: &[f32], tokens: usize) -> (Vec<f32>, Vec<f32>) {
    let d = states.len() / tokens;
    let mut mean = vec![0.0f32; d];
    for row in states.chunks_exact(d) {
        for (m, x) in mean.iter_mut().zip(row) {
            *m += x;
        }
    }
    for m in &mut mean {
        *m /= tokens as f32;
    }
    (mean, states[(tokens - 1) * d..].to_vec())
}

fn analyse(
    model: &str,
    request: &Request,
    mean: &[LanguageStates],
    last: &[LanguageStates],
) -> Result<Computed, String> {
    let options = ReprOptions::default();
    let by_mean = analyze(mean, &options).map_err(|e| format!("mean-pooled states: {e}"))?;
    let by_last = analyze(last, &options).map_err(|e| format!("last-token states: {e}"))?;
    let languages: Vec<&String> = request.iter().map(|(c, _)| c).collect();
    let json = json!({
        "model": model,
        "languages": languages,
        "passages": request[0].1.len(),
        "pooling": { "mean": &by_mean, "last": &by_last },
    })
    .to_string();
    let mut outputs = Outputs::default();
    outputs
        .add("representations", "analysis.json", &json)
        .map_err(|e| e.to_string())?;
    let figures = outputs.into_figures().map_err(|e| e.to_string())?;
    Ok(Computed {
        json,
        by_mean,
        by_last,
        figures,
    })
}

const EXAMPLE: [(&str, &str); 3] = [
    (
        "en",
        "The weather is nice today.\nWhere is the train station?\nI would like a cup of coffee.\nThe children are playing in the garden.",
    ),
    (
        "es",
        "Hoy hace buen tiempo.\n¿Dónde está la estación de tren?\nQuisiera una taza de café.\nLos niños juegan en el jardín.",
    ),
    (
        "zh",
        "今天天气很好。\n火车站在哪里？\n我想要一杯咖啡。\n孩子们在花园里玩。",
    ),
];

#[derive(Properties, PartialEq)]
pub struct Props {
    /// A model is loaded and its engine is free.
    pub ready: bool,
    pub state: ReprState,
    pub on_compute: Callback<Request>,
}

#[function_component(Representations)]
pub fn representations(props: &Props) -> Html {
    let typed = use_state(|| {
        EXAMPLE
            .iter()
            .map(|(c, t)| (c.to_string(), t.to_string()))
            .collect::<Typed>()
    });
    let problem = use_state(|| None::<String>);
    let edit = |i: usize, code: bool| {
        let typed = typed.clone();
        Callback::from(move |e: InputEvent| {
            let value = if code {
                e.target_unchecked_into::<HtmlInputElement>().value()
            } else {
                e.target_unchecked_into::<HtmlTextAreaElement>().value()
            };
            let mut next = (*typed).clone();
            if code {
                next[i].0 = value;
            } else {
                next[i].1 = value;
            }
            typed.set(next);
        })
    };
    let remove = |i: usize| {
        let typed = typed.clone();
        Callback::from(move |_| {
            let mut next = (*typed).clone();
            next.remove(i);
            typed.set(next);
        })
    };
    let add = {
        let typed = typed.clone();
        Callback::from(move |_| {
            let mut next = (*typed).clone();
            next.push((String::new(), String::new()));
            typed.set(next);
        })
    };
    let compute = {
        let (typed, problem, on_compute) =
            (typed.clone(), problem.clone(), props.on_compute.clone());
        Callback::from(move |_| match parse(&typed) {
            Ok(request) => {
                problem.set(None);
                on_compute.emit(request);
            }
            Err(e) => problem.set(Some(e)),
        })
    };
    let busy = props.state.progress.is_some();
    html! {
        <section class="results reprs" aria-labelledby="reprs-heading">
            <h2 id="reprs-heading">{ "Representations" }</h2>
            <p class="hint">
                { "Type the same sentences in several languages, one per line (line i of each \
                   language translates line i). The loaded model reads each sentence on your GPU; \
                   every layer's hidden states are averaged over the tokens (and taken at the \
                   last token), and translations are compared layer by layer: cosine similarity \
                   and whether each sentence's nearest neighbour in the other language is its \
                   translation: the numbers " }<code>{ "xlingo analyze" }</code>{ " writes." }
            </p>
            <div class="reprs-langs">
                { for typed.iter().enumerate().map(|(i, (code, text))| html! {
                    <div class="reprs-lang">
                        <div class="reprs-lang-head">
                            <input class="reprs-code" value={code.clone()} oninput={edit(i, true)}
                                aria-label={format!("Language {} code", i + 1)} placeholder="code"
                                data-testid={format!("repr-code-{i}")} />
                            <button class="quiet" onclick={remove(i)} disabled={busy}
                                aria-label={format!("Remove language {}", i + 1)}>{ "Remove" }</button>
                        </div>
                        <textarea rows="6" value={text.clone()} oninput={edit(i, false)}
                            aria-label={format!("Sentences in language {}", i + 1)}
                            data-testid={format!("repr-text-{i}")} />
                    </div>
                }) }
            </div>
            <div class="results-actions">
                <button onclick={add} disabled={busy}>{ "Add a language" }</button>
                <button class="primary" onclick={compute} disabled={busy || !props.ready}
                    data-testid="repr-compute">{ "Compute" }</button>
                if !props.ready && !busy {
                    <span class="hint">{ "Load a model first (left)." }</span>
                }
                if let Some((done, total)) = props.state.progress {
                    <span class="hint" role="status">{ format!("sentence {} of {total}", (done + 1).min(total)) }</span>
                }
            </div>
            if let Some(e) = problem.as_ref().or(props.state.error.as_ref()) {
                <p class="notice" role="alert" data-testid="repr-error">{ e }</p>
            }
            if let Some(result) = &props.state.result {
                { view_result(result) }
            }
        </section>
    }
}

fn view_result(r: &Computed) -> Html {
    let href = format!(
        "data:application/json;charset=utf-8,{}",
        js_sys::encode_uri_component(&r.json)
    );
    let rows = r.by_mean.layers.iter().zip(&r.by_last.layers);
    html! {
        <>
            <p class="results-actions">
                <a class="button-like" href={href} download="analysis.json">{ "Download analysis.json" }</a>
                <span class="hint">{ format!("{} languages × {} sentences; open it in Results or with ",
                    r.by_mean.languages.len(), r.by_mean.n_sentences) }<code>{ "xlingo report" }</code>{ "." }</span>
            </p>
            <table class="reprs-table" data-testid="repr-table">
                <thead>
                    <tr><th>{ "layer" }</th><th>{ "cosine (mean)" }</th><th>{ "centred" }</th>
                        <th>{ "retrieval (mean)" }</th><th>{ "cosine (last)" }</th><th>{ "retrieval (last)" }</th></tr>
                </thead>
                <tbody>
                    { for rows.map(|(m, l)| html! {
                        <tr data-layer={m.layer.to_string()}
                            data-mean-cosine={m.mean_cosine.to_string()}
                            data-mean-centered={m.mean_cosine_centered.to_string()}
                            data-mean-retrieval={m.mean_retrieval.to_string()}
                            data-last-cosine={l.mean_cosine.to_string()}
                            data-last-retrieval={l.mean_retrieval.to_string()}>
                            <td>{ if m.layer == 0 { "embeddings".to_string() } else { m.layer.to_string() } }</td>
                            <td>{ format!("{:.3}", m.mean_cosine) }</td>
                            <td>{ format!("{:.3}", m.mean_cosine_centered) }</td>
                            <td>{ format!("{:.0}%", 100.0 * m.mean_retrieval) }</td>
                            <td>{ format!("{:.3}", l.mean_cosine) }</td>
                            <td>{ format!("{:.0}%", 100.0 * l.mean_retrieval) }</td>
                        </tr>
                    }) }
                </tbody>
            </table>
            { for r.figures.iter().map(|(f, _)| html! {
                <figure class="chart" data-file={f.file.clone()}>
                    <figcaption><strong>{ f.title.clone() }</strong>{ " — " }{ f.description.clone() }</figcaption>
                    { Html::from_html_unchecked(AttrValue::from(f.svg.clone())) }
                </figure>
            }) }
        </>
    }
}
