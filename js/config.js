// The options Script wrote on the <script> element (ClientOptions).
export const config = { endpoint: "/liveflux", headers: {}, ...JSON.parse(document.currentScript?.dataset.livefluxConfig || "{}") };
