// The note's sections fold to their titles, so a phone does not scroll through every field of a
// first consult (about 8,000 px open) to reach the one it needs. On a narrow screen only the first
// section starts open; on a wide one all do. What the nurse opened or closed stays so while the note
// is redrawn (a save conflict, signing), and a section with a field the server refused opens itself.

const NARROW = window.matchMedia("(max-width: 40rem)");
let openSections = new Map(); // section code -> open, for the consult below
let forConsult = null;
let watching = false;

function setOpen(fieldset, toggle, open) {
  fieldset.dataset.folded = String(!open);
  toggle.setAttribute("aria-expanded", String(open));
  openSections.set(fieldset.dataset.section, open);
}

/** Give each section of `form` a title button that folds it. */
export function foldSections(form, consultId) {
  if (forConsult !== consultId) {
    forConsult = consultId;
    openSections = new Map();
  }
  const fieldsets = [...form.querySelectorAll(":scope > fieldset[data-section]")];
  fieldsets.forEach((fieldset, index) => {
    const legend = fieldset.querySelector(":scope > legend");
    if (!legend || fieldset.querySelector(":scope > .section-toggle")) return;
    const toggle = document.createElement("button");
    toggle.type = "button";
    toggle.className = "section-toggle";
    // notes.js relabels every [data-es] element on a language switch: the title follows.
    toggle.dataset.es = legend.dataset.es;
    toggle.dataset.en = legend.dataset.en;
    toggle.textContent = legend.textContent;
    legend.classList.add("visually-hidden"); // still names the group for screen readers
    legend.after(toggle);
    // A signed note is read-only (inert): all of it shows.
    const open = form.inert || (openSections.get(fieldset.dataset.section) ?? (!NARROW.matches || index === 0));
    setOpen(fieldset, toggle, open);
    toggle.addEventListener("click", () => setOpen(fieldset, toggle, fieldset.dataset.folded === "true"));
  });
  if (!watching) {
    watching = true;
    new MutationObserver((changes) => {
      for (const change of changes) {
        const fieldset = change.target.closest?.("fieldset[data-section]");
        const toggle = fieldset?.querySelector(":scope > .section-toggle");
        if (toggle && change.target.getAttribute("aria-invalid") === "true") setOpen(fieldset, toggle, true);
      }
    }).observe(form, { attributes: true, attributeFilter: ["aria-invalid"], subtree: true });
  }
}
