// Match by: Everything · Pictures · Speech · Text · File words. Shown once the library holds something
// (every file has words of its own: its folder and name, and often a caption or keywords; speech and text
// show once the library reads them, status.passes: "speech", "ocr"); it sets state.only, which goes with
// word searches as `only` and lives in the address bar with the other filters (filters.js). Searches by an
// example or "more like this" have no words to hear or read: the control is off for them. The relevance
// cutoff applies to the fused score whichever signals are searched, so its counts (below_cutoff,
// nothing_matched) hold for each.

import { $$, on, state } from "./api.js";

export const ONLY = ["visual", "speech", "text", "metadata"];

/** Whether the library reads this signal: pictures and the files' own words always, speech and text
 *  once their passes run. */
function isRead(signal, passes) {
  return !signal || signal === "visual" || signal === "metadata" || passes.includes(signal === "text" ? "ocr" : signal);
}

/** The buttons from the state: which one is pressed, whether they apply, whether they show at all. */
export function paintSignals() {
  const group = document.getElementById("signals");
  const passes = state.status?.passes || [];
  group.hidden = !state.status?.files && !passes.length && !state.only; // a link with only=speech still shows it
  const words = !state.mode || state.mode === "text";
  for (const button of $$(".seg[data-signal]", group)) {
    const signal = button.dataset.signal;
    button.setAttribute("aria-pressed", String(signal === state.only));
    // A signal the library does not read is left out (unless an address asks for it).
    button.hidden = !isRead(signal, passes) && signal !== state.only;
    button.disabled = !words;
  }
  group.title = words ? "" : "Speech, text and file words apply to searches by words";
}

/** ``callbacks.filtersChanged``: filters.js's (which imports this module), passed in by app.js. */
export function wireSignals(callbacks) {
  for (const button of $$(".seg[data-signal]")) {
    on(button, "click", () => {
      if (state.only === button.dataset.signal) return;
      state.only = button.dataset.signal;
      paintSignals();
      callbacks.filtersChanged();
    });
  }
}
