-- GitLab's external users see internal projects only where they are members: the sign-in
-- records whether GitLab says the user is external (GET /user), for the session page's check.
ALTER TABLE web_sessions ADD COLUMN external boolean NOT NULL DEFAULT false;
