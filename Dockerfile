FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PARTNERPLAN_VAR_DIR=/app/var
WORKDIR /app
COPY . .
RUN pip install --no-cache-dir . \
    && SECRET_KEY=build ALLOWED_HOSTS=build DATABASE_URL=sqlite:////tmp/build.sqlite3 \
       DJANGO_SETTINGS_MODULE=partnerplan.settings.production python manage.py collectstatic --noinput
RUN useradd --create-home partnerplan && mkdir -p /app/var && chown partnerplan /app/var
USER partnerplan
EXPOSE 8000
CMD ["gunicorn", "partnerplan.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3"]
