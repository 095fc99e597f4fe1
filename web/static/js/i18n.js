// Spanish first, English on request. Every visible string lives here.
const STRINGS = {
  es: {
    "app.title": "Teleconsulta",
    "lang.switch": "English",
    "state.connecting": "Conectando…",
    "state.reconnecting": "Reconectando… No cierre esta página.",
    "call.remote_reconnecting": "Reconectando…",
    "call.video_paused": "Su conexión es débil: video en pausa, el audio continúa.",
    "state.link_missing": "Este enlace no es válido. Use el enlace completo de su cita.",
    "error.auth_invalid": "Este enlace no es válido. Use el enlace completo de su cita.",
    "error.auth_expired": "Este enlace ha caducado. Pida uno nuevo a su unidad.",
    "error.auth_not_yet_valid": "Este enlace aún no está activo. Vuelva cerca de la hora de su cita.",
    "error.auth_revoked": "Este enlace fue cancelado. Pida uno nuevo a su unidad.",
    "error.auth_required": "Inicie sesión para continuar.",
    "error.consult_ended": "Esta consulta ya terminó.",
    "error.network": "No hay conexión con el servidor. Reintentando…",
    "error.generic": "Algo salió mal. Intente de nuevo.",
    "error.devices": "No pudimos usar su cámara o micrófono. Revise los permisos del navegador.",
    "check.title": "Revise su cámara y micrófono",
    "check.appointment": "Su cita",
    "check.mic_level": "Nivel del micrófono",
    "check.speaker_test": "Probar altavoz",
    "check.network_testing": "Probando su conexión…",
    "check.network_result": "Conexión: {rtt} ms, bajada {down} Mbit/s, subida {up} Mbit/s.",
    "check.recommend_video": "Recomendado: videollamada.",
    "check.recommend_audio": "Recomendado: solo audio (conexión débil).",
    "check.network_failed": "No pudimos medir su conexión.",
    "check.start_audio_only": "Entrar solo con audio (ahorra datos)",
    "call.data_used": "Datos usados: {mb} MB",
    "check.consent": "Acepto recibir atención por videollamada y que se registre la consulta en mi expediente clínico.",
    "check.enter": "Entrar a la sala de espera",
    "waiting.title": "Sala de espera",
    "waiting.body": "La enfermera le admitirá en breve. Mantenga esta página abierta.",
    "call.title": "En consulta",
    "call.mute": "Silenciar",
    "call.unmute": "Activar micrófono",
    "call.camera_off": "Apagar cámara",
    "call.camera_on": "Encender cámara",
    "call.hang_up": "Colgar",
    "call.end": "Terminar consulta",
    "call.audio_only": "Solo audio",
    "call.audio_and_video": "Audio y video",
    "call.data_saver": "Ahorro de datos",
    "call.data_saver_off": "Calidad normal",
    "call.share_screen": "Compartir pantalla",
    "call.stop_screen": "Dejar de compartir",
    "call.screen_of": "Pantalla de",
    "call.nurse": "Enfermería",
    "call.participant": "Participante",
    "quality.good": "Conexión buena",
    "quality.fair": "Conexión regular",
    "quality.poor": "Conexión débil",
    "quality.bad": "Conexión muy débil",
    "invite.title": "Invitar a la llamada",
    "invite.role": "Como",
    "invite.name": "Nombre",
    "invite.submit": "Crear enlace",
    "invite.link": "Enlace para compartir",
    "role.companion": "Acompañante",
    "role.interpreter": "Intérprete",
    "role.physician": "Médico especialista",
    "role.observer": "Observador",
    "error.room_full": "La llamada está llena (máximo 8 personas).",
    "error.forbidden": "Su rol no permite esta acción.",
    "error.not_your_consult": "Esta consulta la atiende otra persona.",
    "error.invalid_state": "Esta acción no es posible ahora.",
    "call.remote_muted": "Micrófono apagado",
    "call.remote_camera_off": "Cámara apagada",
    "call.you": "Usted",
    "left.title": "Salió de la consulta",
    "left.rejoin": "Volver a entrar",
    "ended.title": "La consulta ha terminado",
    "ended.body": "Gracias. Puede cerrar esta página.",
    "replaced.body": "Esta consulta se abrió en otra ventana o dispositivo.",
    "login.title": "Consola de enfermería",
    "login.username": "Usuario",
    "login.password": "Contraseña",
    "login.submit": "Entrar",
    "console.queue": "Pacientes de hoy",
    "console.empty": "No hay pacientes en la fila.",
    "console.patient": "Paciente",
    "console.time": "Hora de la cita",
    "console.status": "Estado",
    "console.action": "Acción",
    "console.admit": "Admitir",
    "console.resume": "Volver a la consulta",
    "console.sign_out": "Cerrar sesión",
    "console.ended": "Consulta terminada.",
    "console.zone": "Horario de",
    "status.scheduled": "Programada",
    "status.waiting": "En espera",
    "status.live": "En consulta",
    "status.ended": "Terminada",
  },
  en: {
    "app.title": "Teleconsultation",
    "lang.switch": "Español",
    "state.connecting": "Connecting…",
    "state.reconnecting": "Reconnecting… Keep this page open.",
    "call.remote_reconnecting": "Reconnecting…",
    "call.video_paused": "Your connection is weak: video paused, audio continues.",
    "state.link_missing": "This link is not valid. Use the full link from your appointment.",
    "error.auth_invalid": "This link is not valid. Use the full link from your appointment.",
    "error.auth_expired": "This link has expired. Ask your clinic for a new one.",
    "error.auth_not_yet_valid": "This link is not active yet. Come back close to your appointment time.",
    "error.auth_revoked": "This link was cancelled. Ask your clinic for a new one.",
    "error.auth_required": "Sign in to continue.",
    "error.consult_ended": "This consult has already ended.",
    "error.network": "No connection to the server. Retrying…",
    "error.generic": "Something went wrong. Please try again.",
    "error.devices": "We could not use your camera or microphone. Check the browser's permissions.",
    "check.title": "Check your camera and microphone",
    "check.appointment": "Your appointment",
    "check.mic_level": "Microphone level",
    "check.speaker_test": "Test speaker",
    "check.network_testing": "Testing your connection…",
    "check.network_result": "Connection: {rtt} ms, download {down} Mbit/s, upload {up} Mbit/s.",
    "check.recommend_video": "Recommended: video call.",
    "check.recommend_audio": "Recommended: audio only (weak connection).",
    "check.network_failed": "We could not measure your connection.",
    "check.start_audio_only": "Join with audio only (saves data)",
    "call.data_used": "Data used: {mb} MB",
    "check.consent": "I agree to be seen by video call and to have the consult recorded in my clinical record.",
    "check.enter": "Enter the waiting room",
    "waiting.title": "Waiting room",
    "waiting.body": "The nurse will admit you shortly. Keep this page open.",
    "call.title": "In consult",
    "call.mute": "Mute",
    "call.unmute": "Unmute",
    "call.camera_off": "Turn camera off",
    "call.camera_on": "Turn camera on",
    "call.hang_up": "Hang up",
    "call.end": "End consult",
    "call.audio_only": "Audio only",
    "call.audio_and_video": "Audio and video",
    "call.data_saver": "Data saver",
    "call.data_saver_off": "Normal quality",
    "call.share_screen": "Share screen",
    "call.stop_screen": "Stop sharing",
    "call.screen_of": "Screen of",
    "call.nurse": "Nurse",
    "call.participant": "Participant",
    "quality.good": "Good connection",
    "quality.fair": "Fair connection",
    "quality.poor": "Weak connection",
    "quality.bad": "Very weak connection",
    "invite.title": "Invite to the call",
    "invite.role": "As",
    "invite.name": "Name",
    "invite.submit": "Create link",
    "invite.link": "Link to share",
    "role.companion": "Companion",
    "role.interpreter": "Interpreter",
    "role.physician": "Specialist physician",
    "role.observer": "Observer",
    "error.room_full": "The call is full (8 people at most).",
    "error.forbidden": "Your role does not allow this.",
    "error.not_your_consult": "Someone else runs this consult.",
    "error.invalid_state": "This is not possible right now.",
    "call.remote_muted": "Microphone off",
    "call.remote_camera_off": "Camera off",
    "call.you": "You",
    "left.title": "You left the consult",
    "left.rejoin": "Join again",
    "ended.title": "The consult has ended",
    "ended.body": "Thank you. You can close this page.",
    "replaced.body": "This consult was opened in another window or device.",
    "login.title": "Nurse console",
    "login.username": "Username",
    "login.password": "Password",
    "login.submit": "Sign in",
    "console.queue": "Today's patients",
    "console.empty": "No patients in the queue.",
    "console.patient": "Patient",
    "console.time": "Appointment time",
    "console.status": "Status",
    "console.action": "Action",
    "console.admit": "Admit",
    "console.resume": "Back to the consult",
    "console.sign_out": "Sign out",
    "console.ended": "Consult ended.",
    "console.zone": "Times in",
    "status.scheduled": "Scheduled",
    "status.waiting": "Waiting",
    "status.live": "In consult",
    "status.ended": "Ended",
  },
};

let language = localStorage.getItem("tc.lang") === "en" ? "en" : "es";

export function t(key) {
  return STRINGS[language][key] ?? STRINGS.es[key] ?? key;
}

export function currentLanguage() {
  return language;
}

export function applyTranslations(root = document) {
  document.documentElement.lang = language;
  for (const element of root.querySelectorAll("[data-i18n]")) {
    element.textContent = t(element.dataset.i18n);
  }
}

export function installLanguageSwitch(button, onChange) {
  button.addEventListener("click", () => {
    language = language === "es" ? "en" : "es";
    localStorage.setItem("tc.lang", language);
    applyTranslations();
    onChange?.();
  });
}

/** A date and time in the viewer's own time zone, with the zone named. */
export function formatDateTime(iso) {
  const locale = language === "es" ? "es-MX" : "en-US";
  return new Intl.DateTimeFormat(locale, { dateStyle: "full", timeStyle: "short" }).format(new Date(iso));
}

export function formatTime(iso) {
  const locale = language === "es" ? "es-MX" : "en-US";
  return new Intl.DateTimeFormat(locale, { timeStyle: "short" }).format(new Date(iso));
}

export function viewerTimeZone() {
  return Intl.DateTimeFormat().resolvedOptions().timeZone;
}
