// The case viewer's 3-D pane: the vendored NiiVue bundle (WebGL2, loaded on first use)
// showing the case CT (or its label map) with the inserted nodules as a red overlay, as
// axial/coronal/sagittal slices plus a volume render, with a movable crosshair.

import { el, loadScript } from "./util.js";

const NIIVUE = "/static/vendor/niivue.umd.js";
export const LAYOUTS = [
  { value: "grid", label: "slices + 3-D render" },
  { value: "render", label: "3-D render" },
  { value: "axial", label: "axial" }, { value: "coronal", label: "coronal" }, { value: "sagittal", label: "sagittal" },
];

function applyAffine(affine, vox) {
  return [0, 1, 2].map((r) => affine[r][0] * vox[0] + affine[r][1] * vox[1] + affine[r][2] * vox[2] + affine[r][3]);
}

/**
 * Build the pane inside ``box``. ``onLocation(vox, byUser)`` reports crosshair moves
 * (voxel indices of the case grid; ``byUser`` for clicks in the viewer).
 * Returns ``{ready, goTo({mm, vox}), setZ(z), setLayout(name)}``.
 */
export function createViewer(box, { base, withCt, onLocation }) {
  const status = el("p", { id: "viewer3d-status", class: "note" }, "loading the 3-D viewer…");
  const location = el("p", { id: "viewer3d-loc", class: "note" }, "\u00a0");
  const layout = el("select", { id: "viewer3d-layout" }, LAYOUTS.map((l) => el("option", { value: l.value }, l.label)));
  const clip = el("input", { type: "checkbox", id: "viewer3d-clip", checked: true });
  const canvas = el("canvas", { id: "viewer3d" });
  box.replaceChildren(
    el("div", { class: "viewer3d-controls" }, el("label", { for: "viewer3d-layout" }, "layout ", layout),
      el("label", { for: "viewer3d-clip", class: "option", title: "cut the render open at the crosshair" }, clip, " cut-away at crosshair")),
    el("div", { class: "canvas3d" }, canvas), status, location);
  let nv = null;
  let api = null;

  function cutAway() {
    // a clip plane through the crosshair, facing the viewer, opens the thorax to the nodule
    if (!nv) return;
    if (!clip.checked) { nv.setClipPlane([2, 0, 0]); return; }
    const depth = 0.5 - nv.scene.crosshairPos[1];  // anterior-posterior position, -0.5…0.5
    nv.setClipPlane([Math.max(-0.49, Math.min(0.49, depth)) + 0.03, 180, 0]);
  }

  async function start() {
    await loadScript(NIIVUE);
    const { Niivue, SLICE_TYPE, SHOW_RENDER, MULTIPLANAR_TYPE } = window.niivue;
    nv = new Niivue({
      backColor: [0.06, 0.07, 0.09, 1], show3Dcrosshair: true, crosshairColor: [1, 0.85, 0, 1],
      multiplanarShowRender: SHOW_RENDER.ALWAYS, multiplanarLayout: MULTIPLANAR_TYPE.GRID,
      dragAndDropEnabled: false, isColorbar: false, loadingText: "loading volumes…",
      isRadiologicalConvention: true,  // patient right on screen left, as the axial slice PNGs
    });
    await nv.attachToCanvas(canvas);
    const background = withCt
      ? { url: `${base}/volume/ct.nii.gz`, name: "ct.nii.gz", colormap: "gray", cal_min: -1000, cal_max: 400 }
      : { url: `${base}/volume/labels.nii.gz`, name: "labels.nii.gz", colormap: "gray", cal_min: 0, cal_max: 40, opacity: 0.8 };
    await nv.loadVolumes([background,
      { url: `${base}/volume/nodules.nii.gz`, name: "nodules.nii.gz", colormap: "red", opacity: 0.9, cal_min: 0.5, cal_max: 1 }]);
    nv.setRenderAzimuthElevation(200, 15);
    const types = { grid: SLICE_TYPE.MULTIPLANAR, render: SLICE_TYPE.RENDER, axial: SLICE_TYPE.AXIAL,
      coronal: SLICE_TYPE.CORONAL, sagittal: SLICE_TYPE.SAGITTAL };
    nv.onLocationChange = (data) => {
      const vox = Array.from(data.vox, (v) => Math.round(v));
      location.textContent = `crosshair: voxel (${vox.join(", ")}) · ${Array.from(data.mm, (v) => (Math.abs(v) < 0.05 ? 0 : v).toFixed(1)).join(", ")} mm`;
      box.dataset.crosshair = vox.join(",");
      cutAway();
      if (onLocation) onLocation(vox, Number.isFinite(data.axCorSag));
    };
    const setLayout = (name) => { nv.setSliceType(types[name] ?? SLICE_TYPE.MULTIPLANAR); box.dataset.layout = name; };
    layout.addEventListener("change", () => setLayout(layout.value));
    clip.addEventListener("change", () => { cutAway(); nv.drawScene(); });
    setLayout(layout.value);
    status.textContent = withCt ? "case CT with the inserted nodules in red; click a slice to move the crosshair, drag the render to turn it"
      : "label map (the CT is not viewable here) with the inserted nodules in red";
    api = {
      goTo({ mm, vox }) {
        const world = mm || applyAffine(nv.volumes[0].hdr.affine, vox);
        nv.scene.crosshairPos = nv.mm2frac(world);
        nv.createOnLocationChange();
        nv.drawScene();
      },
      setZ(z) {
        const vox = Array.from(nv.frac2vox(nv.scene.crosshairPos));
        if (vox[2] === z) return;
        vox[2] = z;
        nv.scene.crosshairPos = nv.vox2frac(vox);
        nv.createOnLocationChange();
        nv.drawScene();
      },
      setLayout: (name) => { layout.value = name; setLayout(name); },
      setWindow(centre, width) {
        if (!withCt || !(width > 0)) return;
        nv.volumes[0].cal_min = centre - width / 2;
        nv.volumes[0].cal_max = centre + width / 2;
        nv.updateGLVolume();
      },
    };
    nv.createOnLocationChange();
    box.dataset.ready = "1";
    return api;
  }

  const ready = start().catch((error) => {
    status.textContent = `3-D view unavailable: ${error.message}`;
    status.classList.add("refused");
    box.dataset.ready = "failed";
    return null;
  });
  return {
    ready,
    goTo: async (target) => { const viewer = await ready; if (viewer) viewer.goTo(target); },
    setZ: (z) => { if (api) api.setZ(z); },
    setLayout: async (name) => { const viewer = await ready; if (viewer) viewer.setLayout(name); },
    setWindow: (centre, width) => { if (api) api.setWindow(centre, width); },
  };
}
