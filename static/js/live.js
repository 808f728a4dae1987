// Live co-editing of the joint plan page: every second, post a heartbeat (cursor + the item being
// edited), refresh the fragments other people changed, announce their changes and show who else is
// here. Fragments being edited here are never replaced: they refresh once the edit is closed, and
// a save against a newer version comes back as a conflict from the server.
(function () {
  "use strict";
  var plan = document.getElementById("plan");
  if (!plan || !window.htmx) { return; }
  var liveUrl = plan.dataset.liveUrl;
  var fragmentUrl = plan.dataset.fragmentUrl;
  var cursor = plan.dataset.cursor;
  var pending = new Set();
  var changedBy = new Map();  // fragment → who changed it last, for the note on a form open here
  var applied = new Set();  // events past the safe cursor come again until it passes them
  var busy = false;
  var status = document.getElementById("live-status");
  var presenceList = document.getElementById("presence");
  var presenceEmpty = document.getElementById("presence-empty");
  // The page's words, in its language (data-words-* on the presence list): "{name} is editing this".
  var words = presenceList ? presenceList.dataset : {};
  function say(text, values) {
    return String(text || "").replace(/\{(\w+)\}/g, function (all, key) {
      return Object.prototype.hasOwnProperty.call(values, key) ? values[key] : all;
    });
  }
  function sideWord(side) { return words[side === "vendor" ? "wordsVendor" : "wordsPartner"] || side; }

  function csrfToken() {
    try { return JSON.parse(document.body.getAttribute("hx-headers"))["X-CSRFToken"]; } catch (e) { return ""; }
  }

  function editingElement() { return document.querySelector("[data-editing]"); }

  function labelOf(id) {
    var el = id && document.getElementById(id);
    var labelled = el && (el.closest("[data-label]") || el);
    return (labelled && labelled.dataset && labelled.dataset.label) || words.wordsItem;
  }

  function isBeingEdited(el) {
    if (el.hasAttribute("data-editing") || el.querySelector("[data-editing]")) { return true; }
    var active = document.activeElement;
    return !!(active && el.contains(active) && /^(INPUT|TEXTAREA|SELECT)$/.test(active.tagName));
  }

  var userRequests = 0;  // in-place requests of this person still on their way
  document.body.addEventListener("htmx:beforeRequest", function () { userRequests += 1; });
  document.body.addEventListener("htmx:afterRequest", function () {
    userRequests = Math.max(0, userRequests - 1);
  });

  // Goal cards and goal lists load their contents when opened. A request about one that is open
  // here says so, and the server answers with it open and filled: a refreshed card or list, or
  // the card a step inside it returns, stays as the person left it.
  function isOpen(el) {
    if (!el || !el.closest) { return false; }
    // A form opened in place says whether it came from an open card or list (data-details-open),
    // whatever the list around it: saving or cancelling brings the card back as it was.
    var form = el.closest("form[data-editing]");
    if (form) { return form.hasAttribute("data-details-open"); }
    var holder = el.closest(".goal-card, details.goal-list");
    if (!holder) { return false; }
    var details = holder.matches("details") ? holder : holder.querySelector(":scope > details.goal-more");
    return !!(details && details.open);
  }

  document.body.addEventListener("htmx:configRequest", function (event) {
    if (isOpen(event.detail.elt)) { event.detail.headers["X-Details-Open"] = "true"; }
  });

  // Sections opened inside a piece that is replaced (a goal list, closed goals) open again and
  // load afresh, whether the piece comes from a live update or from the person's own step.
  function openSections(el) {
    var ids = Array.from(el.querySelectorAll("details[open][id]")).map(function (d) { return d.id; });
    if (el.matches("details[open][id]")) { ids.push(el.id); }
    return ids;
  }

  function reopen(ids) {
    ids.forEach(function (id) {
      var again = document.getElementById(id);
      if (again && !again.open) { again.open = true; }
    });
  }

  var openBeforeSwap = [];
  document.body.addEventListener("htmx:beforeSwap", function (event) {
    var target = event.detail.target;
    openBeforeSwap = target && target.querySelectorAll ? openSections(target) : [];
  });
  document.body.addEventListener("htmx:afterSwap", function () {
    reopen(openBeforeSwap);
    openBeforeSwap = [];
  });

  function refresh(name) {
    var current = document.getElementById(name);
    var headers = { "HX-Request": "true" };
    if (current && isOpen(current)) { headers["X-Details-Open"] = "true"; }
    fetch(fragmentUrl.replace("NAME", name), { credentials: "same-origin", headers: headers })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        var el = document.getElementById(name);
        if (!el || html === null) { return; }
        // Checked again on arrival: the person may have opened a form meanwhile.
        if (userRequests > 0 || isBeingEdited(el)) { pending.add(name); return; }
        var template = document.createElement("template");
        template.innerHTML = html.trim();
        var fresh = template.content.firstElementChild;
        if (!fresh) { return; }
        var hadFocus = el.contains(document.activeElement);
        var opened = openSections(el);
        el.replaceWith(fresh);
        htmx.process(fresh);
        reopen(opened);
        if (hadFocus) { fresh.setAttribute("tabindex", "-1"); fresh.focus({ preventScroll: true }); }
      })
      .catch(function () { pending.add(name); });
  }

  function markChangedElsewhere(el) {
    // A draft of something new (a comment, a check-in) cannot conflict: it is refreshed around once
    // it is saved or closed, and needs no warning.
    var form = el.matches("[data-editing]") ? el : el.querySelector("[data-editing]");
    if (form && form.hasAttribute("data-draft")) { return; }
    if (el.classList.contains("changed-elsewhere")) { return; }
    el.classList.add("changed-elsewhere");
    var who = changedBy.get(el.id) || words.wordsSomeone;
    var note = document.createElement("p");
    note.className = "changed-note";
    note.setAttribute("role", "status");
    note.textContent = say(words.wordsChanged, { who: who });
    el.insertBefore(note, el.firstChild);
  }

  function flush() {
    if (userRequests > 0) { return; }
    Array.from(pending).forEach(function (name) {
      var el = document.getElementById(name);
      if (!el) { pending.delete(name); return; }
      if (isBeingEdited(el)) { markChangedElsewhere(el); return; }
      pending.delete(name);
      refresh(name);
    });
  }

  function showPresence(people) {
    document.querySelectorAll(".editing-badge").forEach(function (b) { b.remove(); });
    presenceList.textContent = "";
    presenceEmpty.hidden = people.length > 0;
    people.forEach(function (person) {
      var li = document.createElement("li");
      li.className = "person side-" + person.side;
      // The sentence in the page's language, with the name in bold wherever the language puts it.
      var values = { side: sideWord(person.side), item: person.editing ? labelOf(person.editing) : "" };
      var parts = String((person.editing ? words.wordsEditing : words.wordsViewing) || "{name}").split("{name}");
      parts.forEach(function (part, i) {
        if (i > 0) {
          var name = document.createElement("strong");
          name.textContent = person.name;
          li.appendChild(name);
        }
        if (part) { li.appendChild(document.createTextNode(say(part, values))); }
      });
      if (person.editing) {
        var target = document.getElementById(person.editing);
        var holder = target && (target.closest("[data-label]") || target);
        if (holder) {
          var badge = document.createElement("p");
          badge.className = "editing-badge";
          badge.textContent = say(words.wordsEditingThis, { name: person.name });
          holder.insertBefore(badge, holder.firstChild);
        }
      }
      presenceList.appendChild(li);
    });
  }

  function announce(lines) {
    if (lines.length) { status.textContent = lines.join(". "); }
  }

  function tick() {
    if (busy) { return; }
    busy = true;
    var editing = editingElement();
    var body = new URLSearchParams({ after: cursor, editing: editing ? editing.id : "" });
    fetch(liveUrl, {
      method: "POST", body: body, credentials: "same-origin",
      headers: { "X-CSRFToken": csrfToken(), "Accept": "application/json" }
    }).then(function (r) { return r.ok ? r.json() : null; }).then(function (data) {
      if (!data) { return; }
      cursor = data.cursor;
      var lines = [];
      var seen = new Set();
      data.events.forEach(function (event) {
        seen.add(event.seq);
        if (applied.has(event.seq)) { return; }
        event.fragments.forEach(function (name) {
          pending.add(name);
          if (event.actor) { changedBy.set(name, event.actor); }
        });
        if (event.announce) { lines.push(event.announce); }
      });
      applied = seen;
      showPresence(data.presence);
      announce(lines.slice(-5));
    }).catch(function () { /* offline for a moment: the next tick retries from the same cursor */ })
      .finally(function () { busy = false; flush(); });
  }

  // Keyboard and screen-reader flow of in-place editing: a form that opens takes the focus; when
  // it closes (saved or cancelled), the focus goes back to what it replaced.
  // On settle, not swap: by then htmx has wired up the new form's own buttons.
  document.body.addEventListener("htmx:afterSettle", function (event) {
    var target = event.detail.target;
    var fresh = target && target.id ? document.getElementById(target.id) : null;
    if (fresh && fresh.hasAttribute("data-editing")) {
      // Never pull the focus back if the person already went into the form (typing fast, or
      // clicking a field before htmx settled): their keystrokes would land in the first field.
      var field = fresh.querySelector("input:not([type=hidden]), textarea, select");
      if (field && !fresh.contains(document.activeElement)) { field.focus(); }
    } else if (fresh && target.hasAttribute && target.hasAttribute("data-editing")) {
      if (!fresh.hasAttribute("tabindex")) { fresh.setAttribute("tabindex", "-1"); }
      fresh.focus({ preventScroll: true });
    }
  });

  // Escape closes an open in-place form without saving (its Cancel / Take theirs button).
  document.body.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") { return; }
    var form = event.target.closest && event.target.closest("form[data-editing]");
    var cancel = form && form.querySelector(".actions button[hx-get]");
    if (cancel) {
      event.preventDefault();
      htmx.ajax("GET", cancel.getAttribute("hx-get"), { source: cancel, target: form, swap: "outerHTML" });
    }
  });

  setInterval(tick, 1000);
  tick();
})();
