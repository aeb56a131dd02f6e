// The ask box: POST the question, read the answer's events as they stream in (sources, delta…, done
// or error), write each piece as it comes and turn every [n] into a link to source n below.
(function () {
  "use strict";
  function sourceLinks(text, count) {
    const span = document.createElement("span");
    let last = 0;
    for (const match of text.matchAll(/\[(\d+)\]/g)) {
      const n = Number(match[1]);
      span.append(text.slice(last, match.index));
      if (n >= 1 && n <= count) {
        const link = document.createElement("a");
        link.href = "#ask-source-" + n;
        link.className = "cite";
        link.textContent = "[" + n + "]";
        span.append(link);
      } else {
        span.append(match[0]);
      }
      last = match.index + match[0].length;
    }
    span.append(text.slice(last));
    return span;
  }

  function showSources(list, sources, cited) {
    list.replaceChildren();
    for (const source of sources) {
      const item = document.createElement("li");
      item.id = "ask-source-" + source.n;
      item.value = source.n;
      item.className = cited && cited.has(source.n) ? "cited" : "";
      const name = document.createElement("b");
      name.textContent = source.source;
      const meta = document.createElement("span");
      meta.className = "muted";
      meta.textContent = " (chunk " + source.chunk + ", similarity " + source.similarity.toFixed(3) + ") ";
      const text = document.createElement("div");
      text.className = "text";
      text.textContent = source.text.length > 400 ? source.text.slice(0, 400) + "…" : source.text;
      item.append(name, meta, text);
      list.append(item);
    }
  }

  async function ask(form) {
    const answer = document.getElementById("ask-answer");
    const list = document.getElementById("ask-sources");
    const error = document.getElementById("ask-error");
    const usage = document.getElementById("ask-usage");
    const indicator = document.getElementById("asking");
    const button = form.querySelector("button");
    answer.replaceChildren(); list.replaceChildren(); usage.textContent = ""; error.hidden = true;
    indicator.hidden = false; button.disabled = true;
    let text = "", count = 0;
    try {
      const response = await fetch(form.action, {
        method: "POST", body: new FormData(form), headers: {"Accept": "text/event-stream"},
      });
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const {value, done} = await reader.read();
        if (done) break;
        buffer += value;
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const name = (block.match(/^event: (.*)$/m) || [])[1];
          const data = JSON.parse((block.match(/^data: (.*)$/m) || [])[1] || "{}");
          if (name === "sources") {
            count = data.sources.length;
            showSources(list, data.sources, null);
          } else if (name === "delta") {
            text += data.text;
            answer.replaceChildren(sourceLinks(text, count));
          } else if (name === "done") {
            text = data.answer;
            answer.replaceChildren(sourceLinks(text, count));
            const cited = new Set(data.sources.filter((s) => s.cited).map((s) => s.n));
            showSources(list, data.sources, cited);
            const u = data.usage;
            usage.textContent = data.asked
              ? data.model + ": " + u.prompt_tokens.toLocaleString() + " prompt + " + u.completion_tokens.toLocaleString() +
                " answer tokens, $" + data.cost_usd.toFixed(6) + (data.not_used.length ? "; " + data.not_used.length + " near chunks not used" : "")
              : "";
          } else if (name === "error") {
            error.textContent = data.detail;
            error.hidden = false;
          }
        }
      }
    } catch (problem) {
      error.textContent = "The answer could not be read: " + problem;
      error.hidden = false;
    } finally {
      indicator.hidden = true; button.disabled = false;
    }
  }

  document.addEventListener("submit", function (event) {
    if (event.target.id !== "ask-form") return;
    event.preventDefault();
    ask(event.target);
  });
})();
