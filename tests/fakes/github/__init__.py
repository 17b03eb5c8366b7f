"""A fake GitHub on 127.0.0.1 that speaks, and is checked against, GitHub's REST API.

Use it through the fixtures in :mod:`tests.fakes.github.fixtures` (import them into a
test module or conftest: ``fake_github = fixtures.fake_github`` and ``github_openapi =
fixtures.github_openapi``; ``fixtures.app_client(fake)`` gives a zuulish client acting
as a freshly installed App)::

    def test_gate(fake_github):                       # FakeGitHub, started
        repo = fake_github.add_repo("acme/widget")    # a bare git repo, main = 1 commit
        pull = fake_github.add_pull("acme/widget", {"a.txt": "a\\n"}, title="Add a")
        app = fake_github.add_app()                   # app.id, app.private_key_pem
        fake_github.add_installation(app, "acme")     # all of acme's repos, full rights
        fake_github.protect_branch("acme/widget", "main", contexts=["zuul/gate"])
        ... point zuulish at fake_github.url (``api_base_url``) ...
        assert repo.bare.rev("refs/heads/main") == ...  # what the merge left
        assert fake_github.calls_to("PUT", "/repos/{owner}/{repo}/pulls/{pull_number}/merge")

Every request is checked against GitHub's OpenAPI description (npm
``@octokit/openapi``, fetched into ``~/.cache/zuulish/`` by ``npm pack``; tests skip
without it unless ``ZUULISH_GITHUB_OPENAPI=required``): an unknown path, a wrong
method, a parameter or body that breaks the schema, or an operation the fake does not
serve is answered 500 and recorded in ``violations``, and ``fake_github`` fails the test
at teardown (take expected ones with ``take_violations()``). Answers are checked too.

:class:`~tests.fakes.github.server.FakeGitHub` (``server.py``):

- ``url`` — the API base URL; ``clock`` — its time (the fixture's is a
  ``FastForwardClock``: the wall clock plus what ``advance()`` and ``sleep()`` skip,
  without waiting; its ``sleeps`` records the waits of a client given that clock).
- World: ``add_repo(full_name, default_branch="main", files=None, private=False) ->
  Repo``; ``repo(full_name)``; ``add_pull(full_name, files, title=, body=, user=,
  head_branch=, base=, commits=1) -> Pull``; ``push_to_pull(full_name, pull, files)``;
  ``push(full_name, branch, files)``; ``add_collaborator(full_name, user,
  permission)``; ``protect_branch(full_name, branch, contexts=(), strict=False,
  required_approvals=0)``; ``add_status(repo, sha, state, context)``;
  ``add_review(repo, pull, user, state)``; ``add_comment(repo, pull, user, body)``.
- Credentials: ``add_app(slug) -> App``; ``add_installation(app, account, repos=None,
  permissions=None) -> Installation``; ``add_user_token(user) -> str``;
  ``expire_tokens(installation=None)``.
- Misbehaviour: ``limit_rate(remaining, reset_in=60)``; ``secondary_limit(times,
  retry_after=None, status=403)``; ``fail_next(times, status=502)``;
  ``delay_next(times, seconds)`` (real seconds).
- Webhooks: ``add_webhook(url, secret) -> Hook``; ``emit(event, payload,
  delivery_id=None) -> list[Delivery]`` (signed ``X-Hub-Signature-256``, a new
  ``X-GitHub-Delivery`` unless replaying); payloads from ``webhooks.py``:
  ``pull_request_payload(fake, repo, pull, action, sender=None, **extra)``,
  ``comment_payload(fake, repo, pull, comment)``, ``review_payload(fake, repo, pull,
  review)``, ``check_run_payload(fake, repo, run, action, requested_action=None)``,
  ``push_payload(fake, repo, ref, before, after)``; ``deliveries`` records them.
- Record: ``calls`` (:class:`Call`: method, path, query, body, caller, status,
  operation), ``calls_to(method, template)``, ``violations``, ``take_violations()``.

State (``state.py``): ``Repo`` (``bare``: :class:`~tests.fakes.github.gitops.BareRepo`
with ``path``, ``rev(ref)``, ``git(...)``; ``pulls``, ``statuses``, ``check_runs``,
``labels``, ``collaborators``, ``protections``, ``allow_*_merge``) and ``Pull``
(``number``, ``head_sha``, ``head_branch``, ``base_branch``, ``state``, ``merged``,
``merge_commit_sha``, ``labels``, ``comments``, ``reviews``).

What GitHub enforces, the fake enforces: App JWTs (RS256 signature with the App's key,
``iat``/``exp`` within ten minutes), installation tokens (an hour, expirable) and
personal tokens; installation permissions and repository selection; collaborator
permissions; branch protection (required statuses or check runs, strict, approvals);
merges refused with GitHub's messages (405 not mergeable / protection, 409 head
modified); ``X-RateLimit-*`` budgets, secondary limits and ``Retry-After``. Merges run
git on the bare repository: a merge commit, a squash, or a rebase with new commits.
"""
