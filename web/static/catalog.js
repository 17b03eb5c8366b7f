// The job page's frozen-job picker: the branches follow the chosen project, and the
// pipelines the chosen branch (a project runs a job in its own pipelines, and each
// branch may run it in others). Without scripts the form still works.
(function () {
  "use strict";
  const form = document.getElementById("freeze");
  if (!form) return;
  const users = JSON.parse(form.dataset.users);
  const project = document.getElementById("freeze-project");
  const branch = document.getElementById("freeze-branch");
  const pipeline = document.getElementById("freeze-pipeline");
  function fill(select, values) {
    const keep = select.value;
    select.replaceChildren(...values.map((v) => {
      const option = document.createElement("option");
      option.textContent = v;
      option.selected = v === keep;
      return option;
    }));
  }
  const user = () => users.find((u) => u.project === project.value);
  function followBranch() {
    const u = user();
    if (u) fill(pipeline, u.by_branch[branch.value] || u.pipelines);
  }
  function followProject() {
    const u = user();
    if (!u) return;
    fill(branch, u.branches.length ? u.branches : ["main"]);
    followBranch();
  }
  project.addEventListener("change", followProject);
  branch.addEventListener("change", followBranch);
  followProject();
})();
