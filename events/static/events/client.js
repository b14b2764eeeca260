// Read the key facts of the client page aloud with the browser's speech synthesis, in the page
// language (<html lang>). No inline script: the labels come from data- attributes.
const button = document.getElementById("speak-button");
const status = document.getElementById("speak-status");

function pickVoice(lang) {
  const voices = window.speechSynthesis.getVoices() || [];
  const base = lang.toLowerCase().split("-")[0];
  return voices.find((v) => v.lang && v.lang.toLowerCase() === lang.toLowerCase())
    || voices.find((v) => v.lang && v.lang.toLowerCase().split(/[-_]/)[0] === base)
    || null;
}

function textToRead() {
  return Array.from(document.querySelectorAll("[data-speak]"))
    .map((el) => el.innerText.replace(/\s+/g, " ").trim())
    .filter(Boolean)
    .join(". ");
}

function setLabel(speaking) {
  const label = button.querySelector(".btn-label");
  label.textContent = speaking ? button.dataset.labelStop : button.dataset.labelStart;
  button.setAttribute("aria-pressed", speaking ? "true" : "false");
}

if (button) {
  button.setAttribute("aria-pressed", "false");
  button.addEventListener("click", () => {
    if (!("speechSynthesis" in window) || typeof window.SpeechSynthesisUtterance !== "function") {
      status.textContent = button.dataset.unsupported;
      return;
    }
    const synth = window.speechSynthesis;
    if (synth.speaking || synth.pending) {
      synth.cancel();
      setLabel(false);
      return;
    }
    const lang = document.documentElement.lang || "nl";
    const utterance = new SpeechSynthesisUtterance(textToRead());
    utterance.lang = lang;
    const voice = pickVoice(lang);
    if (voice) utterance.voice = voice;
    utterance.rate = 0.9;
    utterance.addEventListener("end", () => setLabel(false));
    utterance.addEventListener("error", () => setLabel(false));
    setLabel(true);
    synth.speak(utterance);
  });
}
