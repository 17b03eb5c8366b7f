// The job page's frozen-job picker: the branch and pipeline lists follow the chosen
// project (each project runs the job in its own pipelines, on its own branches).
// Without scripts the form still works: every branch and pipeline is listed.
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
  function follow() {
    const user = users.find((u) => u.project === project.value);
    if (!user) return;
    fill(branch, user.branches.length ? user.branches : ["main"]);
    fill(pipeline, user.pipelines);
  }
  project.addEventListener("change", follow);
  follow();
})();
